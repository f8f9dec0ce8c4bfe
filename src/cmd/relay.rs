//! The command line another host's sessctl gets for a relayed command: this one's, without
//! what chose the host.

use anyhow::Result;

use crate::error::{quoted, usage};

/// This process's arguments without `--host` and its value, and with `product` (as written,
/// `web@build`) as the bare name. What follows `--` (the command line `enable` is given) is
/// the user's, passed as written.
pub fn args(product: Option<&str>) -> Result<Vec<String>> {
    let args = std::env::args_os().skip(1).map(|arg| {
        arg.into_string().map_err(|arg| {
            usage(format!(
                "argument {} is not UTF-8, which ssh cannot pass on; run that command on its host",
                quoted(&arg.to_string_lossy())
            ))
        })
    });
    Ok(without_host(args.collect::<Result<_>>()?, product))
}

fn without_host(args: Vec<String>, product: Option<&str>) -> Vec<String> {
    let bare = product
        .and_then(|p| p.split_once('@'))
        .map(|(name, _)| name);
    let mut out = Vec::with_capacity(args.len());
    let mut args = args.into_iter();
    let mut renamed = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--" => {
                out.push(arg);
                out.extend(args.by_ref());
            }
            "--host" => {
                args.next();
            }
            _ if arg.starts_with("--host=") => {}
            _ if !renamed && Some(arg.as_str()) == product && bare.is_some() => {
                out.extend(bare.map(str::to_string));
                renamed = true;
            }
            _ => out.push(arg),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("--host h1 list --json", None, "list --json")]
    #[case("list --host=h1,h2", None, "list")]
    #[case("stop web@h1", Some("web@h1"), "stop web")]
    #[case("--host h1 stop web", Some("web"), "stop web")]
    #[case(
        "enable web@h1 -- sh -c web@h1 --host x",
        Some("web@h1"),
        "enable web -- sh -c web@h1 --host x"
    )]
    fn the_host_is_taken_out_and_the_rest_passed_as_written(
        #[case] given: &str,
        #[case] product: Option<&str>,
        #[case] relayed: &str,
    ) {
        let given = given.split(' ').map(str::to_string).collect();
        assert_eq!(without_host(given, product).join(" "), relayed);
    }
}
