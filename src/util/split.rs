//! Redis's `sdssplitargs`: splits a line into arguments with its quoting
//! rules, used for inline commands and configuration files; and its
//! inverse, `sdscatrepr`.

/// C's `isspace` for the ASCII range.
pub fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// Splits one line into arguments exactly like Redis's `sdssplitargs`
/// (also used by Redis for inline commands): whitespace separates
/// arguments; `"..."` understands `\n \r \t \b \a \xHH` and `\<any>`;
/// `'...'` understands only `\'`; a closing quote must be followed by
/// whitespace or the end. A NUL byte ends the line, as in C. Returns `None`
/// for unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let hex = |b: u8| char::from(b).to_digit(16).map(|d| d as u8);
    let mut out = Vec::new();
    let mut p = 0;
    loop {
        while at(p) != 0 && is_c_space(at(p)) {
            p += 1;
        }
        if at(p) == 0 {
            return Some(out);
        }
        let mut current = Vec::new();
        let (mut in_double, mut in_single, mut done) = (false, false, false);
        while !done {
            let c = at(p);
            if in_double {
                if let (b'\\', b'x', Some(hi), Some(lo)) =
                    (c, at(p + 1), hex(at(p + 2)), hex(at(p + 3)))
                {
                    current.push(hi * 16 + lo);
                    p += 3;
                } else if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    current.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(p + 1) != 0 && !is_c_space(at(p + 1)) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    current.push(c);
                }
            } else if in_single {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    current.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_c_space(at(p + 1)) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    current.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' => in_double = true,
                    b'\'' => in_single = true,
                    _ => current.push(c),
                }
            }
            if at(p) != 0 {
                p += 1;
            }
        }
        out.push(current);
    }
}

/// Quotes bytes so that `split_args` reads them back unchanged (Redis's
/// `sdscatrepr`): configuration directive lines and MONITOR output.
pub fn repr(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for &b in s {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::split_args;

    #[test]
    fn quoting() {
        let v = split_args(br#"set "a b" 'c\'d' "\x41\n" plain"#).unwrap();
        assert_eq!(
            v,
            vec![
                b"set".to_vec(),
                b"a b".to_vec(),
                b"c'd".to_vec(),
                b"A\n".to_vec(),
                b"plain".to_vec()
            ]
        );
        assert!(split_args(b"\"unterminated").is_none());
        assert!(split_args(b"\"a\"b").is_none());
        assert_eq!(split_args(b"   ").unwrap().len(), 0);
        assert_eq!(
            split_args(b" \x0ba\x0bb").unwrap(),
            vec![b"a\x0bb".to_vec()]
        );
    }
}
