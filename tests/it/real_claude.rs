//! The real Claude Code, offline against the fake API, as the agent of a product on the
//! private manager.

use crate::support::claude;

#[test]
fn explore() {
    let Some(c) = claude::setup("cc-explore") else {
        return;
    };
    c.enable(&c.project);
    c.prompt("PROMPT-ONE hello");
    c.prompt("RUN: echo alpha RUN: echo beta");
    c.wait("both results", || {
        (c.api.conversation().len() >= 3).then_some(())
    });
    std::thread::sleep(std::time::Duration::from_secs(3));
    eprintln!("{}", c.screen());
    c.prompt("/compact");
    std::thread::sleep(std::time::Duration::from_secs(5));
    eprintln!("{}", c.screen());
    c.prompt("PROMPT-THREE after");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let projects = c.config_dir.join("projects");
    for e in std::fs::read_dir(&projects).unwrap() {
        for f in std::fs::read_dir(e.unwrap().path()).unwrap() {
            let f = f.unwrap().path();
            eprintln!("FILE {}", f.display());
            if f.is_file() {
                eprintln!("{}", std::fs::read_to_string(&f).unwrap());
            }
        }
    }
    for r in c.api.conversation() {
        eprintln!(
            "REQ {}",
            serde_json::to_string(&r.body["messages"])
                .unwrap()
                .chars()
                .filter(|_| true)
                .collect::<String>()
                .len()
        );
    }
    let last = c.api.conversation().pop().unwrap();
    for m in last.body["messages"].as_array().unwrap() {
        let t = m.to_string();
        eprintln!("MSG {}", &t[..t.len().min(300)]);
    }
    panic!("explore");
}
