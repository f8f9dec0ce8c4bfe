// The dashboard's service worker, served at /sw.js so that its scope is the whole dashboard.
// It shows the push messages sessctl sends (a product waits for you, was lost, recovered, or
// was stopped by the start limit) and opens the product's page when one is tapped. It caches
// nothing and answers no request: the dashboard is live or it is nothing.
//
// A message is the JSON sessctl encrypts for this subscription:
//   {product, kind, title, body, url: "/p/<product>", tag: "sessctl-<product>"}
"use strict";

// A new version takes over at once, and the open pages with it, so that a tap's handler can
// navigate them.
self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

// Only a URL of this dashboard is ever opened, whatever a message says.
function dashboardUrl(url) {
  const target = new URL(url || "/", self.location.origin);
  return target.origin === self.location.origin ? target.href : self.location.origin + "/";
}

function shown(message) {
  return {
    body: message.body || "",
    // One notice per product: a newer one replaces it, and still alerts.
    tag: message.tag || `sessctl-${message.product}`,
    renotify: true,
    data: { url: dashboardUrl(message.url) },
    icon: "/static/icon-192.png",
  };
}

self.addEventListener("push", (event) => {
  let message;
  try {
    message = event.data ? event.data.json() : {};
  } catch (err) {
    // A push the browser must show something for (userVisibleOnly): say what arrived.
    message = { title: "sessctl", body: event.data.text() };
  }
  const title = message.title || "sessctl";
  event.waitUntil(self.registration.showNotification(title, shown(message)));
});

// A tap: the dashboard's window that is open already shows the product's page and comes to
// the front; without one, the page opens in a new one.
async function open(url) {
  const windows = await self.clients.matchAll({ type: "window" });
  const dashboard = windows.find((client) => "navigate" in client);
  if (!dashboard) {
    await self.clients.openWindow(url);
    return;
  }
  // Navigated first: the page shows the product even where bringing it forward is refused.
  const navigated = await dashboard.navigate(url);
  await (navigated || dashboard).focus();
}

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(open(dashboardUrl(event.notification.data && event.notification.data.url)));
});
