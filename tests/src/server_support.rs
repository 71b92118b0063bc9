//! Small pieces the test servers share: the `interop_server` and `bare_broadcaster`
//! command line, and the login interceptor of `interop_server` and the relay tests.

use stomp_server::{
    interceptor::{InterceptorContext, Rejection},
    Command, Frame, Principal,
};

/// Makes the `CONNECT` / `STOMP` `login` header, when present and not empty, the session's
/// principal.
pub fn login_interceptor(
    frame: &mut Frame,
    context: &mut InterceptorContext<'_>,
) -> Result<(), Rejection> {
    if matches!(frame.command, Command::Connect | Command::Stomp) {
        if let Some(login) = frame.get("login").filter(|l| !l.is_empty()) {
            *context.principal = Some(Principal::new(login));
        }
    }
    Ok(())
}

/// The `--addr HOST:PORT` (or `--addr=HOST:PORT`) of `args`, `127.0.0.1:0` by default;
/// `program` names the binary in the usage message of an unknown argument.
pub fn parse_addr(program: &str, args: impl IntoIterator<Item = String>) -> Result<String, String> {
    let mut addr = "127.0.0.1:0".to_owned();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--addr" {
            addr = args.next().ok_or("--addr needs a value")?;
        } else if let Some(value) = arg.strip_prefix("--addr=") {
            value.clone_into(&mut addr);
        } else {
            return Err(format!(
                "unknown argument `{arg}`; usage: {program} [--addr HOST:PORT]"
            ));
        }
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::parse_addr;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn addr_forms_and_errors() {
        assert_eq!(parse_addr("p", args(&[])).unwrap(), "127.0.0.1:0");
        assert_eq!(
            parse_addr("p", args(&["--addr", "0.0.0.0:1"])).unwrap(),
            "0.0.0.0:1"
        );
        assert_eq!(parse_addr("p", args(&["--addr=h:2"])).unwrap(), "h:2");
        assert!(parse_addr("p", args(&["--addr"])).is_err());
        assert!(parse_addr("p", args(&["--port", "1"]))
            .unwrap_err()
            .contains("usage: p"));
    }
}
