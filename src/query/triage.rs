//! The dashboard's order of the products: those whose agent waits for you first (the longest
//! wait first), then those in trouble, then the rest, each group by name. A phone shows a few
//! cards at a time, so what needs a human is where the thumb starts.
//!
//! The one place the order is decided: the server sorts its list with [`sort`], so the list page
//! and `GET /api/products` agree. `sessctl list` stays alphabetical: a terminal shows the whole
//! list at once, a script or `watch` diffs it, and a row that jumps whenever a wait begins or
//! ends would only be noise there.
//!
//! May import: `query::status`'s reports and the base modules.

use super::status::Report;
use crate::error::Verdict;
use crate::identity::ActiveState;

/// Where a product's card goes on the dashboard's list, the first group first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    /// Its agent waits for its human (which only a running session can).
    Waiting,
    /// See [`in_trouble`].
    Trouble,
    Rest,
}

pub fn group(report: &Report) -> Group {
    if report.waiting.is_some() {
        Group::Waiting
    } else if in_trouble(report) {
        Group::Trouble
    } else {
        Group::Rest
    }
}

/// Whether the product is in trouble: exactly what its card shows in red, that is, a failed
/// unit (which is also where a crash loop ends once the start limit stops it), a config that
/// cannot be read, a session that needs repair, lacks something a start needs, or was lost, or
/// a last resume whose verdict was `lost` or `needs-repair`. A drifted unit file, a pending
/// restart or a change under way are not: the card shows them, but nothing is down for them.
pub fn in_trouble(report: &Report) -> bool {
    let bad_verdict = report.last_resume.as_ref().is_some_and(|resume| {
        [Verdict::Lost, Verdict::NeedsRepair]
            .iter()
            .any(|bad| resume.verdict == bad.as_str())
    });
    report.active_state == ActiveState::Failed
        || report.broken.is_some()
        || report.needs_repair.is_some()
        || report.missing.is_some()
        || report.lost.is_some()
        || bad_verdict
}

/// Sorts `reports` into the dashboard's order. Waits are ordered by their start, UTC RFC 3339
/// of one fixed width, so the text's order is the time's.
pub fn sort(reports: &mut [Report]) {
    let key = |r: &Report| {
        let since = r.waiting.as_ref().map(|w| w.since.clone());
        (group(r), since, r.product.clone())
    };
    reports.sort_by_cached_key(key);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::status::{LastResume, UnitFileDrift};
    use crate::state::Waiting;

    fn report(name: &str, active_state: ActiveState) -> Report {
        Report {
            product: name.to_string(),
            unit: format!("sessctl-{name}.service"),
            active_state,
            sub_state: "running".to_string().into(),
            main_pid: 0,
            agent_pid: None,
            uptime_seconds: None,
            n_restarts: 0,
            last_exit: None,
            cgroup: String::new(),
            invocation_id: String::new(),
            unit_file: UnitFileDrift::Current,
            need_daemon_reload: false,
            restart_pending: false,
            start_limit_hit: false,
            lost: None,
            change: None,
            conversation: None,
            needs_repair: None,
            broken: None,
            missing: None,
            last_resume: None,
            waiting: None,
            permissions: Vec::new(),
        }
    }

    fn resumed(verdict: &str) -> Option<LastResume> {
        Some(LastResume {
            verdict: verdict.to_string(),
            at: "2026-12-07T06:00:00Z".to_string(),
            main_pid: None,
            agent_pid: None,
            reason: None,
        })
    }

    fn waits_since(since: &str) -> Option<Waiting> {
        Some(Waiting {
            since: since.to_string(),
            kind: "stop".to_string(),
        })
    }

    #[test]
    fn each_red_mark_of_a_card_and_only_those_make_a_product_in_trouble() {
        let note = || Some("why, and the fix".to_string());
        let cases: Vec<(&str, Report, bool)> = vec![
            ("running", report("p", ActiveState::Active), false),
            ("stopped", report("p", ActiveState::Inactive), false),
            ("failed", report("p", ActiveState::Failed), true),
            (
                "broken",
                Report {
                    broken: note(),
                    ..report("p", ActiveState::Inactive)
                },
                true,
            ),
            (
                "needs repair",
                Report {
                    needs_repair: note(),
                    ..report("p", ActiveState::Inactive)
                },
                true,
            ),
            (
                "missing",
                Report {
                    missing: note(),
                    ..report("p", ActiveState::Inactive)
                },
                true,
            ),
            (
                "lost",
                Report {
                    lost: note(),
                    ..report("p", ActiveState::Active)
                },
                true,
            ),
            (
                "resume lost",
                Report {
                    last_resume: resumed("lost"),
                    ..report("p", ActiveState::Active)
                },
                true,
            ),
            (
                "resume needs repair",
                Report {
                    last_resume: resumed("needs-repair"),
                    ..report("p", ActiveState::Inactive)
                },
                true,
            ),
            (
                "resume survived",
                Report {
                    last_resume: resumed("survived"),
                    ..report("p", ActiveState::Active)
                },
                false,
            ),
            (
                "resume recovered",
                Report {
                    last_resume: resumed("recovered"),
                    ..report("p", ActiveState::Active)
                },
                false,
            ),
            (
                "drifted",
                Report {
                    unit_file: UnitFileDrift::Drifted,
                    ..report("p", ActiveState::Active)
                },
                false,
            ),
            (
                "restart pending",
                Report {
                    restart_pending: true,
                    ..report("p", ActiveState::Active)
                },
                false,
            ),
            (
                "restarted",
                Report {
                    n_restarts: 3,
                    ..report("p", ActiveState::Active)
                },
                false,
            ),
            (
                "change",
                Report {
                    change: note(),
                    ..report("p", ActiveState::Active)
                },
                false,
            ),
        ];
        for (case, report, trouble) in cases {
            assert_eq!(in_trouble(&report), trouble, "{case}");
        }
    }

    #[test]
    fn waiting_comes_first_longest_wait_first_then_trouble_then_the_rest_each_by_name() {
        let mut reports = vec![
            report("alpha", ActiveState::Active),
            report("bravo", ActiveState::Failed),
            Report {
                waiting: waits_since("2026-12-07T06:05:00Z"),
                ..report("charlie", ActiveState::Active)
            },
            report("delta", ActiveState::Inactive),
            Report {
                lost: Some("gone".to_string()),
                ..report("echo", ActiveState::Active)
            },
            // Waiting outranks trouble: the human is asked for either way.
            Report {
                waiting: waits_since("2026-12-07T06:01:00Z"),
                last_resume: resumed("lost"),
                ..report("foxtrot", ActiveState::Active)
            },
            Report {
                waiting: waits_since("2026-12-07T06:05:00Z"),
                ..report("bishop", ActiveState::Active)
            },
            report("able", ActiveState::Failed),
        ];
        sort(&mut reports);
        let order: Vec<(&str, Group)> = reports
            .iter()
            .map(|r| (r.product.as_str(), group(r)))
            .collect();
        assert_eq!(
            order,
            [
                ("foxtrot", Group::Waiting),
                ("bishop", Group::Waiting),
                ("charlie", Group::Waiting),
                ("able", Group::Trouble),
                ("bravo", Group::Trouble),
                ("echo", Group::Trouble),
                ("alpha", Group::Rest),
                ("delta", Group::Rest),
            ]
        );
    }
}
