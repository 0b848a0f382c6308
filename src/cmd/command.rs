//! COMMAND and its subcommands, built from the command table plus Redis's
//! descriptive metadata.

use super::keys::help_reply;
use super::meta::meta;
use super::{Command, Ctx, flags, is, table};
use crate::error::{CmdError, CmdResult};
use crate::protocol::Reply;
use crate::util::glob::glob_match;
use bytes::Bytes;

fn set_of(names: &[&str]) -> Reply {
    Reply::Set(
        names
            .iter()
            .map(|n| Reply::Status(Bytes::copy_from_slice(n.as_bytes())))
            .collect(),
    )
}

/// The COMMAND INFO entry of one command.
pub fn command_info(c: &Command) -> Reply {
    let t = table();
    let m = meta().info.get(c.name);
    let flag_names: Vec<&str> = flags::NAMES
        .iter()
        .filter(|(b, _)| c.flags & b != 0)
        .map(|(_, n)| *n)
        .collect();
    let field = |i: usize, default: Reply| m.and_then(|f| f.get(i).cloned()).unwrap_or(default);
    Reply::Array(vec![
        Reply::bulk(c.name.as_bytes()),
        Reply::Int(c.arity as i64),
        set_of(&flag_names),
        Reply::Int(c.first_key as i64),
        Reply::Int(c.last_key as i64),
        Reply::Int(c.step as i64),
        field(6, set_of(&["@slow", "@connection"])),
        field(7, Reply::Set(vec![])),
        field(8, Reply::Array(vec![])),
        if c.is_container() {
            Reply::Array(
                c.subcommands
                    .iter()
                    .map(|&i| command_info(&t.cmds[i]))
                    .collect(),
            )
        } else {
            Reply::Set(vec![])
        },
    ])
}

/// The COMMAND DOCS entry of one command (its doc map).
fn command_docs(c: &Command) -> Reply {
    let t = table();
    let base = meta().docs.get(c.name).cloned().unwrap_or_else(|| {
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
                let cat = format!("@{}", String::from_utf8_lossy(v).to_ascii_lowercase());
                all.filter(|c| {
                    matches!(command_info(c), Reply::Array(f) if matches!(&f[6], Reply::Set(s)
                        if s.iter().any(|r| matches!(r, Reply::Status(b) if &b[..] == cat.as_bytes()))))
                })
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

fn text_field(m: &Reply, name: &str) -> Option<String> {
    match field(m, name)? {
        Reply::Bulk(b) | Reply::Status(b) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    }
}

fn int_field(m: &Reply, name: &str) -> Option<i64> {
    match field(m, name)? {
        Reply::Int(i) => Some(*i),
        _ => None,
    }
}

/// Key positions in `args` (which start with the command name) with the
/// flags of the key specification that found each, evaluated from Redis's
/// key specs (`index` begin-search, `range` find-keys) or, for commands
/// without specs, from the table's first/last/step.
pub fn keys_with_flags(c: &Command, args: &[Bytes]) -> Vec<(usize, Reply)> {
    let argc = args.len() as i64;
    let specs = match meta().info.get(c.name).and_then(|f| f.get(8)) {
        Some(Reply::Array(specs) | Reply::Set(specs)) if !specs.is_empty() => specs,
        _ => {
            return c
                .key_positions(args.len())
                .into_iter()
                .map(|p| (p, Reply::Set(vec![])))
                .collect();
        }
    };
    let mut out = Vec::new();
    for spec in specs {
        let mut flags = field(spec, "flags").cloned().unwrap_or(Reply::Set(vec![]));
        if c.name == "set" {
            // SET's key flags depend on its GET option (Redis's setGetKeys).
            let get = args.iter().skip(3).any(|a| is(a, "get"));
            flags = set_of(if get {
                &["RW", "access", "update"]
            } else {
                &["OW", "update"]
            });
        }
        let Some(begin) = field(spec, "begin_search") else {
            continue;
        };
        let Some(bspec) = field(begin, "spec") else {
            continue;
        };
        // Where the search starts: a fixed index, or just after a keyword.
        let start = match text_field(begin, "type").as_deref() {
            Some("index") => match int_field(bspec, "index") {
                Some(i) => i,
                None => continue,
            },
            Some("keyword") => {
                let Some(Reply::Bulk(kw)) = field(bspec, "keyword") else {
                    continue;
                };
                let from = int_field(bspec, "startfrom").unwrap_or(1);
                let found = if from >= 0 {
                    (from.max(1)..argc).find(|&i| args[i as usize].eq_ignore_ascii_case(kw))
                } else {
                    (1..=(argc + from).max(0))
                        .rev()
                        .find(|&i| args[i as usize].eq_ignore_ascii_case(kw))
                };
                match found {
                    Some(i) => i + 1,
                    None => continue,
                }
            }
            _ => continue,
        };
        let Some(find) = field(spec, "find_keys") else {
            continue;
        };
        let Some(fk) = field(find, "spec") else {
            continue;
        };
        let (first, last, step) = match text_field(find, "type").as_deref() {
            Some("range") => {
                let lastkey = int_field(fk, "lastkey").unwrap_or(0);
                let step = int_field(fk, "keystep").unwrap_or(1).max(1);
                let last = if lastkey >= 0 {
                    start + lastkey
                } else {
                    argc + lastkey
                };
                (start, last, step)
            }
            Some("keynum") => {
                // A count argument says how many keys follow.
                let numidx = start + int_field(fk, "keynumidx").unwrap_or(0);
                let Some(n) = args
                    .get(numidx as usize)
                    .and_then(|a| crate::util::num::parse_i64(a))
                    .filter(|n| *n > 0)
                else {
                    continue;
                };
                let first = start + int_field(fk, "firstkey").unwrap_or(1);
                let step = int_field(fk, "keystep").unwrap_or(1).max(1);
                (first, first + (n - 1) * step, step)
            }
            _ => continue,
        };
        if last >= argc {
            // Fewer arguments than the spec needs: no keys from it.
            continue;
        }
        let mut p = first;
        while p <= last && p < argc {
            out.push((p as usize, flags.clone()));
            p += step;
        }
    }
    out
}

/// True if a key flag set (as [`keys_with_flags`] returns it) holds `flag`.
pub fn flags_contain(flags: &Reply, flag: &str) -> bool {
    match flags {
        Reply::Set(items) | Reply::Array(items) => items.iter().any(|f| match f {
            Reply::Status(b) | Reply::Bulk(b) => b.as_ref() == flag.as_bytes(),
            _ => false,
        }),
        _ => false,
    }
}

/// True if one of the command's key specifications is read-only (`RO`),
/// such as the source keys of SINTERSTORE.
pub fn has_read_only_keys(c: &Command) -> bool {
    match meta().info.get(c.name).and_then(|f| f.get(8)) {
        Some(Reply::Array(specs) | Reply::Set(specs)) => specs
            .iter()
            .any(|spec| field(spec, "flags").is_some_and(|f| flags_contain(f, "RO"))),
        _ => false,
    }
}

/// Resolves the command of COMMAND GETKEYS[ANDFLAGS] and checks its arity.
fn getkeys_target(sub: &[Bytes]) -> Result<&'static Command, CmdError> {
    let cmd = super::resolve(sub).map_err(|_| CmdError::msg("ERR Invalid command specified"))?;
    // Redis: a command has keys if it has key specifications (movable-key
    // commands like SINTERCARD have no fixed first key).
    let has_specs = matches!(
        meta().info.get(cmd.name).and_then(|f| f.get(8)),
        Some(Reply::Array(v) | Reply::Set(v)) if !v.is_empty()
    );
    if cmd.first_key == 0 && !has_specs {
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
    let keys = keys_with_flags(getkeys_target(sub)?, sub);
    if keys.is_empty() {
        return Err(CmdError::msg("ERR Invalid arguments specified for command"));
    }
    Ok(Reply::Array(
        keys.into_iter()
            .map(|(p, _)| Reply::Bulk(sub[p].clone()))
            .collect(),
    ))
}

/// COMMAND GETKEYSANDFLAGS command [arg ...]
pub fn getkeysandflags(_: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let sub = &args[2..];
    let keys = keys_with_flags(getkeys_target(sub)?, sub);
    if keys.is_empty() {
        return Err(CmdError::msg("ERR Invalid arguments specified for command"));
    }
    Ok(Reply::Array(
        keys.into_iter()
            .map(|(p, f)| Reply::Array(vec![Reply::Bulk(sub[p].clone()), f]))
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
        let group = meta()
            .docs
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
