//! The NickServ alias: `/msg NickServ ...` (and the `NS` / `NICKSERV`
//! commands) parsed into requests, and the help text. The server answers as
//! `NickServ!NickServ@services.` with NOTICEs, as the services people know.
//!
//! Pure: the checks happen in the runtime's accounts service and the
//! session words the outcome.

/// The nickname the service answers as; reserved (`hub.reserved_nicks`).
pub const NICKSERV: &str = "NickServ";

/// One NickServ request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `REGISTER <password> [email]`: the account is the current nickname.
    Register {
        password: String,
    },
    /// `IDENTIFY [account] <password>`.
    Identify {
        account: Option<String>,
        password: String,
    },
    /// `SET PASSWORD <new>`.
    SetPassword(String),
    /// `INFO [account]`.
    Info(Option<String>),
    /// `CERT ADD [fingerprint]` (default: the connection's certificate).
    CertAdd(Option<String>),
    /// `CERT DEL <fingerprint>`.
    CertDel(String),
    /// `CERT LIST`.
    CertList,
    Help,
    /// Wrong use: the text tells the right one.
    Usage(&'static str),
    /// A command NickServ does not know.
    Unknown(String),
}

pub const HELP: &[&str] = &[
    "NickServ lets you register your nickname as an account and log in to it.",
    "REGISTER <password> [email]   register your current nickname",
    "IDENTIFY [account] <password> log in (or use SASL PLAIN in your client)",
    "SET PASSWORD <new password>   change your password (logged in)",
    "INFO [account]                show an account",
    "CERT ADD [fingerprint]        log in with this TLS client certificate (SASL EXTERNAL)",
    "CERT DEL <fingerprint>        forget a certificate",
    "CERT LIST                     list your certificates",
    "A registered nickname used by someone not logged in to it is renamed after a grace period.",
    "Private messages to your account while you are away are kept for your next login.",
];

/// Parses the text of a message to NickServ (or the parameters of `NS`).
pub fn parse(text: &str) -> Request {
    let words: Vec<&str> = text.split_whitespace().collect();
    let Some(first) = words.first() else {
        return Request::Help;
    };
    let arg = |i: usize| words.get(i).map(|w| w.to_string());
    match first.to_ascii_uppercase().as_str() {
        "HELP" => Request::Help,
        "REGISTER" => match arg(1) {
            Some(password) => Request::Register { password },
            None => Request::Usage("REGISTER <password> [email]"),
        },
        "IDENTIFY" | "LOGIN" => match (arg(1), arg(2)) {
            (Some(account), Some(password)) => Request::Identify {
                account: Some(account),
                password,
            },
            (Some(password), None) => Request::Identify {
                account: None,
                password,
            },
            _ => Request::Usage("IDENTIFY [account] <password>"),
        },
        "SET" => match (arg(1).map(|s| s.to_ascii_uppercase()).as_deref(), arg(2)) {
            (Some("PASSWORD"), Some(new)) => Request::SetPassword(new),
            _ => Request::Usage("SET PASSWORD <new password>"),
        },
        "INFO" => Request::Info(arg(1)),
        "CERT" => match (arg(1).map(|s| s.to_ascii_uppercase()).as_deref(), arg(2)) {
            (Some("ADD"), fp) => Request::CertAdd(fp.map(|f| normalize_fp(&f))),
            (Some("DEL"), Some(fp)) => Request::CertDel(normalize_fp(&fp)),
            (Some("LIST"), _) => Request::CertList,
            _ => Request::Usage("CERT ADD [fingerprint] | CERT DEL <fingerprint> | CERT LIST"),
        },
        other => Request::Unknown(other.chars().take(32).collect()),
    }
}

/// `ab:cd:...` or `abcd...` as `AB:CD:...`, the form the server computes.
pub fn normalize_fp(fp: &str) -> String {
    let hex: String = fp
        .chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let pairs: Vec<&str> = hex
        .as_bytes()
        .chunks(2)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    pairs.join(":")
}

/// A fingerprint as the server computes them: 32 bytes, `AB:` separated.
pub fn valid_fp(fp: &str) -> bool {
    fp.len() == 32 * 3 - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_with_optional_parts() {
        assert_eq!(
            parse("register hunter22 me@example.org"),
            Request::Register {
                password: "hunter22".into()
            }
        );
        assert_eq!(
            parse("IDENTIFY pw"),
            Request::Identify {
                account: None,
                password: "pw".into()
            }
        );
        assert_eq!(
            parse("identify alice pw"),
            Request::Identify {
                account: Some("alice".into()),
                password: "pw".into()
            }
        );
        assert_eq!(
            parse("set password new1"),
            Request::SetPassword("new1".into())
        );
        assert!(matches!(parse("SET PASSWORD"), Request::Usage(_)));
        assert_eq!(parse("INFO"), Request::Info(None));
        assert_eq!(parse("cert add"), Request::CertAdd(None));
        assert_eq!(parse("cert del aa:bb"), Request::CertDel("AA:BB".into()));
        assert_eq!(parse("CERT LIST"), Request::CertList);
        assert_eq!(parse(""), Request::Help);
        assert_eq!(parse("DROP"), Request::Unknown("DROP".into()));
    }

    #[test]
    fn fingerprints_are_normalized() {
        assert_eq!(normalize_fp("abcd"), "AB:CD");
        assert_eq!(normalize_fp("AB:cd:EF"), "AB:CD:EF");
        assert!(valid_fp(&normalize_fp(&"ab".repeat(32))));
        assert!(!valid_fp("AB:CD"));
    }
}
