//! Command errors, and every error text a client can see, in one place.
//!
//! Clients and test suites match these strings, so they are Redis's own,
//! byte for byte.

use std::borrow::Cow;
use std::fmt;

/// An error reply. The text starts with its code (`ERR`, `WRONGTYPE`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdError(pub Cow<'static, str>);

/// Handler result.
pub type CmdResult = Result<crate::protocol::Reply, CmdError>;

impl fmt::Display for CmdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for CmdError {
    fn from(s: String) -> Self {
        CmdError(Cow::Owned(s))
    }
}

macro_rules! errors {
    ($($(#[$m:meta])* $name:ident => $text:expr;)*) => {
        impl CmdError {
            $($(#[$m])* pub const fn $name() -> CmdError { CmdError(Cow::Borrowed($text)) })*
        }
    };
}

errors! {
    /// Operation on a key of another type.
    wrong_type => "WRONGTYPE Operation against a key holding the wrong kind of value";
    /// Argument is not an integer (or overflows i64).
    not_integer => "ERR value is not an integer or out of range";
    /// Argument is not a float.
    not_float => "ERR value is not a valid float";
    /// Bad option combination.
    syntax => "ERR syntax error";
    /// Missing key for RENAME and friends.
    no_such_key => "ERR no such key";
    /// SELECT/MOVE/COPY with a bad database number.
    db_out_of_range => "ERR DB index is out of range";
    /// INCR family overflow.
    overflow => "ERR increment or decrement would overflow";
    /// Value would exceed proto-max-bulk-len.
    too_big => "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
    /// Negative or too large offsets.
    offset_range => "ERR offset is out of range";
    /// Command before AUTH.
    noauth => "NOAUTH Authentication required.";
    /// A `denyoom` command while used memory is over `maxmemory` and
    /// nothing can be evicted.
    oom => "OOM command not allowed when used memory > 'maxmemory'.";
    /// Bad credentials.
    wrongpass => "WRONGPASS invalid username-password pair or user is disabled.";
    /// AUTH with no password configured.
    auth_not_configured => "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";
    /// HELLO with an unsupported version.
    noproto => "NOPROTO unsupported protocol version";
    /// maxclients reached.
    max_clients => "ERR max number of clients reached";
    /// A positive integer was required.
    not_positive => "ERR value is out of range, must be positive";
    /// An argument that must fit a C int.
    int_range => "ERR value is out of range, value must between -2147483648 and 2147483647";
    /// Timeout out of range.
    timeout_not_float => "ERR timeout is not a float or out of range";
    /// Dataset still loading.
    loading => "LOADING Redis is loading the dataset in memory";
    /// MOVE/COPY to the same db.
    same_object => "ERR source and destination objects are the same";
}

impl CmdError {
    /// `ERR wrong number of arguments for 'get' command`.
    pub fn arity(name: &str) -> CmdError {
        format!(
            "ERR wrong number of arguments for '{}' command",
            name.to_ascii_lowercase()
        )
        .into()
    }

    /// Unknown command with a preview of its arguments, as Redis 7 prints it.
    pub fn unknown_command(name: &[u8], args: &[bytes::Bytes]) -> CmdError {
        let mut preview = String::new();
        for a in args {
            if preview.len() >= 128 {
                break;
            }
            preview.push('\'');
            preview.push_str(&sanitize(a, 128 - preview.len().min(128)));
            preview.push_str("' ");
        }
        format!(
            "ERR unknown command '{}', with args beginning with: {}",
            sanitize(name, 128),
            preview
        )
        .into()
    }

    /// `ERR unknown subcommand 'x'. Try CONFIG HELP.`
    pub fn unknown_subcommand(sub: &[u8], cmd: &str) -> CmdError {
        format!(
            "ERR unknown subcommand '{}'. Try {} HELP.",
            sanitize(sub, 128),
            cmd.to_ascii_uppercase()
        )
        .into()
    }

    /// `ERR unknown subcommand or wrong number of arguments for 'x'. Try
    /// CMD HELP.`, for a subcommand whose own arguments are wrong.
    pub fn subcommand_syntax(sub: &[u8], cmd: &[u8]) -> CmdError {
        format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
            sanitize(sub, 128),
            String::from_utf8_lossy(cmd).to_ascii_uppercase()
        )
        .into()
    }

    /// A RESP2 client in subscribe mode ran a command other than
    /// (P|S)(UN)SUBSCRIBE, PING, QUIT or RESET.
    pub fn subscribe_context(name: &str) -> CmdError {
        format!(
            "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
        )
        .into()
    }

    /// Any other error text (must start with its code).
    pub fn msg(s: impl Into<String>) -> CmdError {
        CmdError(Cow::Owned(s.into()))
    }

    /// `ERR invalid expire time in 'set' command`.
    pub fn invalid_expire(cmd: &str) -> CmdError {
        format!("ERR invalid expire time in '{cmd}' command").into()
    }

    /// A command Redis flags `protected` that its `enable-*-command`
    /// switch does not allow for this client (Redis 7.0's `processCommand`):
    /// `ERR DEBUG command not allowed. If the enable-debug-command option is
    /// set to "local", ...`.
    pub fn protected_command(command: &str, option: &str) -> CmdError {
        format!(
            "ERR {command} command not allowed. If the {option} option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server."
        )
        .into()
    }

    /// Protected-mode refusal sent to non-local clients.
    pub fn denied() -> CmdError {
        CmdError(Cow::Borrowed(DENIED))
    }
}

/// Redis 7.0's protected-mode message (its typo "Setup a an" included).
pub const DENIED: &str = "DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.";

/// Redis shows user text in errors with control characters replaced and
/// truncated (`sdscatrepr` is not used for these; it maps \r\n to spaces).
fn sanitize(b: &[u8], max: usize) -> String {
    let s: String = String::from_utf8_lossy(&b[..b.len().min(max)]).into_owned();
    s.chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect()
}
