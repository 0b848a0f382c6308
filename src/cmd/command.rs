//! COMMAND and its subcommands, built from the command table plus Redis's
//! descriptive metadata.

use super::keys::help_reply;
use super::meta;
use super::spec::{self, acl};
use super::{Command, Ctx, is, table};
use crate::error::{CmdError, CmdResult};
use crate::protocol::Reply;
use crate::util::glob::glob_match;
use bytes::Bytes;

/// The COMMAND INFO entry of one command.
pub fn command_info(c: &Command) -> Reply {
    c.info()
}

/// The COMMAND DOCS entry of one command (its doc map).
fn command_docs(c: &Command) -> Reply {
    let t = table();
    let base = meta::docs().get(c.name).cloned().unwrap_or_else(|| {
        Reply::Map(vec![
            (Reply::bulk_static("summary"), Reply::bulk_static("")),
            (Reply::bulk_static("since"), Reply::bulk_static("7.2.0")),
            (
                Reply::bulk_static("group"),
                Reply::bulk_static("connection"),
            ),
            (Reply::bulk_static("complexity"), Reply::bulk_static("O(1)")),
        ])
    });
    let Reply::Map(mut fields) = base else {
        return base;
    };
    // Only list the subcommands forkv implements.
    fields.retain(|(k, _)| !matches!(k, Reply::Bulk(b) if &b[..] == b"subcommands"));
    if c.is_container() {
        let subs = c
            .subcommands
            .iter()
            .map(|&i| {
                (
                    Reply::bulk(t.cmds[i].name.as_bytes()),
                    command_docs(&t.cmds[i]),
                )
            })
            .collect();
        fields.push((Reply::bulk_static("subcommands"), Reply::Map(subs)));
    }
    Reply::Map(fields)
}

/// COMMAND
pub fn command(_: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len() > 1 {
        return Err(CmdError::unknown_subcommand(&args[1], "command"));
    }
    Ok(Reply::Array(
        table().top_level().map(command_info).collect(),
    ))
}

/// COMMAND COUNT
pub fn count(_: &mut Ctx, _: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(table().top_level().count() as i64))
}

fn find(name: &[u8]) -> Option<&'static Command> {
    let n = std::str::from_utf8(name).ok()?.to_ascii_lowercase();
    table().get(&n)
}

/// COMMAND INFO [command ...]
pub fn info(_: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len() == 2 {
        return Ok(Reply::Array(
            table().top_level().map(command_info).collect(),
        ));
    }
    Ok(Reply::Array(
        args[2..]
            .iter()
            .map(|n| find(n).map_or(Reply::Nil, command_info))
            .collect(),
    ))
}

/// COMMAND DOCS [command ...]
pub fn docs(_: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let t = table();
    let cmds: Vec<&Command> = if args.len() == 2 {
        t.top_level().collect()
    } else {
        args[2..].iter().filter_map(|n| find(n)).collect()
    };
    Ok(Reply::Map(
        cmds.into_iter()
            .map(|c| (Reply::bulk(c.name.as_bytes()), command_docs(c)))
            .collect(),
    ))
}

/// COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]
pub fn list(_: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let t = table();
    let all = t.cmds.iter();
    let names: Vec<&str> = match args.len() {
        2 => all.map(|c| c.name).collect(),
        5 if is(&args[2], "filterby") => {
            let v = &args[4];
            if is(&args[3], "module") {
                Vec::new()
            } else if is(&args[3], "pattern") {
                all.filter(|c| glob_match(v, c.name.as_bytes(), true))
                    .map(|c| c.name)
                    .collect()
            } else if is(&args[3], "aclcat") {
                let bit = acl::NAMES
                    .iter()
                    .find(|(_, n)| v.eq_ignore_ascii_case(n.as_bytes()))
                    .map_or(0, |(b, _)| *b);
                all.filter(|c| c.meta.acl & bit != 0)
                    .map(|c| c.name)
                    .collect()
            } else {
                return Err(CmdError::syntax());
            }
        }
        _ => return Err(CmdError::syntax()),
    };
    Ok(Reply::bulk_array(names))
}

fn field<'a>(m: &'a Reply, name: &str) -> Option<&'a Reply> {
    match m {
        Reply::Map(pairs) => pairs
            .iter()
            .find(|(k, _)| matches!(k, Reply::Bulk(b) if &b[..] == name.as_bytes()))
            .map(|(_, v)| v),
        _ => None,
    }
}

/// Resolves the command of COMMAND GETKEYS[ANDFLAGS] and checks its arity.
fn getkeys_target(sub: &[Bytes]) -> Result<&'static Command, CmdError> {
    let cmd = super::resolve(sub).map_err(|_| CmdError::msg("ERR Invalid command specified"))?;
    // Redis: a command has keys if it has key specifications (movable-key
    // commands like SINTERCARD have no fixed first key).
    if cmd.meta.key_specs.is_empty() {
        return Err(CmdError::msg("ERR The command has no key arguments"));
    }
    let argc = sub.len() as i32;
    if (cmd.arity > 0 && cmd.arity != argc) || argc < -cmd.arity {
        return Err(CmdError::msg(
            "ERR Invalid number of arguments specified for command",
        ));
    }
    Ok(cmd)
}

/// COMMAND GETKEYS command [arg ...]
pub fn getkeys(_: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let sub = &args[2..];
    let keys = getkeys_target(sub)?.keys(sub);
    if keys.is_empty() {
        return Err(CmdError::msg("ERR Invalid arguments specified for command"));
    }
    Ok(Reply::Array(
        keys.into_iter()
            .map(|k| Reply::Bulk(sub[k.pos].clone()))
            .collect(),
    ))
}

/// COMMAND GETKEYSANDFLAGS command [arg ...]
pub fn getkeysandflags(_: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let sub = &args[2..];
    let keys = getkeys_target(sub)?.keys(sub);
    if keys.is_empty() {
        return Err(CmdError::msg("ERR Invalid arguments specified for command"));
    }
    Ok(Reply::Array(
        keys.into_iter()
            .map(|k| {
                Reply::Array(vec![
                    Reply::Bulk(sub[k.pos].clone()),
                    spec::key_flags_reply(k.flags),
                ])
            })
            .collect(),
    ))
}

/// COMMAND HELP
pub fn help(_: &mut Ctx, _: &[Bytes]) -> CmdResult {
    Ok(help_reply(
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
        ],
    ))
}

/// The supported-command list of README.md, generated from the table and
/// grouped as Redis's docs group them. A test keeps README.md in sync.
pub fn readme_command_list() -> String {
    let t = table();
    let mut groups: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for c in t.top_level() {
        let group = meta::docs()
            .get(c.name)
            .and_then(|d| field(d, "group"))
            .and_then(|g| match g {
                Reply::Bulk(b) | Reply::Status(b) => Some(String::from_utf8_lossy(b).into_owned()),
                _ => None,
            })
            .unwrap_or_else(|| "other".into());
        let mut entry = c.name.to_ascii_uppercase();
        if c.is_container() {
            let mut subs: Vec<String> = c
                .subcommands
                .iter()
                .map(|&i| {
                    t.cmds[i]
                        .name
                        .split('|')
                        .nth(1)
                        .unwrap_or("")
                        .to_ascii_uppercase()
                })
                .collect();
            subs.sort();
            entry = format!("{entry} ({})", subs.join(", "));
        }
        groups.entry(group).or_default().push(entry);
    }
    let mut out = String::new();
    for (g, mut cmds) in groups {
        cmds.sort();
        out.push_str(&format!("- **{g}**: {}\n", cmds.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn readme_lists_exactly_the_command_table() {
        let readme = include_str!("../../README.md");
        let start = "<!-- commands:start -->\n";
        let end = "<!-- commands:end -->";
        let a = readme
            .find(start)
            .expect("README has the commands:start marker")
            + start.len();
        let b = readme
            .find(end)
            .expect("README has the commands:end marker");
        let want = super::readme_command_list();
        assert_eq!(
            &readme[a..b],
            want,
            "README.md's command list is stale; replace it with:\n{want}"
        );
    }
}
