//! Glob-style pattern matching, as Redis does it for `KEYS`, `SCAN MATCH`,
//! `PSUBSCRIBE`, `CONFIG GET` and friends.
//!
//! This is a faithful port of `stringmatchlen` from Redis 7's `util.c`, quirks
//! included, because clients and test suites depend on the exact behaviour:
//!
//! * `*` matches any run of bytes, `?` exactly one byte.
//! * `[abc]`, `[a-z]` (reversed ranges such as `[z-a]` work too), `[^...]`
//!   negation, and `\x` inside a class matches `x` literally.
//! * `\x` outside a class matches `x` literally; a trailing lone `\` matches a
//!   backslash.
//! * An unterminated class (`[abc`) behaves as if closed at the end of the
//!   pattern.
//! * Like Redis, the match loop stops as soon as the string is exhausted, so
//!   `*` (or `**`) does **not** match the empty string. Redis's `KEYS` and
//!   `SCAN` special-case the one-byte pattern `*` as "everything" before they
//!   ever call the matcher; callers that need that must do the same.
//! * Bytes are compared as C `char`s on x86-64, i.e. *signed*: in a range
//!   such as `[a-\xff]` the byte `0xff` counts as -1, exactly as in Redis.
//!   Case folding (`nocase`) only touches ASCII `A-Z`, like `tolower` in the C
//!   locale.
//!
//! Two guards keep hostile patterns cheap, both taken from Redis: recursion
//! (one level per `*`) stops at a nesting depth of 1000 and reports no match,
//! and once the tail after some `*` fails to match at every remaining
//! position, every enclosing `*` gives up too (`skipLongerMatches`), which
//! turns patterns like `*a*a*a*a*b` from exponential into polynomial time.

/// Returns whether `string` matches the glob `pattern`, with Redis's exact
/// semantics (see the module docs). `nocase` folds ASCII letters.
///
/// Never panics, whatever the bytes.
pub fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip_longer_matches = false;
    match_impl(pattern, string, nocase, &mut skip_longer_matches, 0)
}

/// Deepest `*` recursion allowed before Redis declares "no match"; it stops
/// patterns with thousands of stars from exhausting the stack.
const MAX_NESTING: u32 = 1000;

/// Byte at `i`, or 0 past the end. The C original reads the NUL terminator
/// that follows every sds string at `pattern[patternLen]`; this reproduces
/// those reads without going out of bounds.
#[inline]
fn at(s: &[u8], i: usize) -> u8 {
    s.get(i).copied().unwrap_or(0)
}

/// A byte as the C code sees it: a signed `char` widened to `int`.
#[inline]
fn as_c_char(b: u8) -> i32 {
    i32::from(b as i8)
}

/// C-locale `tolower` on a signed `char` value: only `A-Z` change.
#[inline]
fn c_tolower(c: i32) -> i32 {
    if (i32::from(b'A')..=i32::from(b'Z')).contains(&c) {
        c + 32
    } else {
        c
    }
}

/// Byte equality, folding ASCII case when asked.
#[inline]
fn eq_byte(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

/// The recursive matcher; `p` and `s` are cursors into `pattern` and
/// `string`, mirroring the pointer arithmetic of the C code so the two can
/// be compared line by line.
fn match_impl(pattern: &[u8], string: &[u8], nocase: bool, skip: &mut bool, nesting: u32) -> bool {
    if nesting > MAX_NESTING {
        return false;
    }
    let mut p = 0usize;
    let mut s = 0usize;
    let plen = pattern.len();
    let slen = string.len();

    while p < plen && s < slen {
        match pattern[p] {
            b'*' => {
                // Collapse runs of stars: they mean the same as one.
                while p < plen && at(pattern, p + 1) == b'*' {
                    p += 1;
                }
                if plen - p == 1 {
                    return true;
                }
                while s < slen {
                    if match_impl(&pattern[p + 1..], &string[s..], nocase, skip, nesting + 1) {
                        return true;
                    }
                    if *skip {
                        return false;
                    }
                    s += 1;
                }
                // The rest of the pattern matches nowhere in the rest of the
                // string, so letting an earlier star swallow more cannot help
                // either: tell every enclosing star to stop trying.
                *skip = true;
                return false;
            }
            b'?' => {
                s += 1;
            }
            b'[' => {
                p += 1;
                let not = at(pattern, p) == b'^';
                if not {
                    p += 1;
                }
                let c = string[s];
                let mut matched = false;
                loop {
                    // `p <= plen` holds throughout; `at` covers `p == plen`.
                    let left = plen - p;
                    let pc = at(pattern, p);
                    if pc == b'\\' && left >= 2 {
                        // Escaped byte: literal, and (as in Redis) compared
                        // without case folding.
                        p += 1;
                        if pattern[p] == c {
                            matched = true;
                        }
                    } else if pc == b']' {
                        break;
                    } else if left == 0 {
                        // Unterminated class: step back onto the last byte so
                        // the shared `p += 1` below lands exactly at the end.
                        p -= 1;
                        break;
                    } else if left >= 3 && pattern[p + 1] == b'-' {
                        let mut start = as_c_char(pattern[p]);
                        let mut end = as_c_char(pattern[p + 2]);
                        let mut ch = as_c_char(c);
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        if nocase {
                            start = c_tolower(start);
                            end = c_tolower(end);
                            ch = c_tolower(ch);
                        }
                        p += 2;
                        if ch >= start && ch <= end {
                            matched = true;
                        }
                    } else if eq_byte(pc, c, nocase) {
                        matched = true;
                    }
                    p += 1;
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                s += 1;
            }
            b'\\' => {
                if plen - p >= 2 {
                    p += 1;
                }
                if !eq_byte(pattern[p], string[s], nocase) {
                    return false;
                }
                s += 1;
            }
            pc => {
                if !eq_byte(pc, string[s], nocase) {
                    return false;
                }
                s += 1;
            }
        }
        p += 1;
        if s == slen {
            // String used up: trailing stars may still match the empty rest.
            while at(pattern, p) == b'*' {
                p += 1;
            }
            break;
        }
    }
    p >= plen && s == slen
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    fn m(p: &str, s: &str) -> bool {
        glob_match(p.as_bytes(), s.as_bytes(), false)
    }

    fn mi(p: &str, s: &str) -> bool {
        glob_match(p.as_bytes(), s.as_bytes(), true)
    }

    #[test]
    fn literals() {
        assert!(m("hello", "hello"));
        assert!(!m("hello", "hell"));
        assert!(!m("hell", "hello"));
        assert!(!m("hello", "Hello"));
        assert!(mi("hello", "HeLLo"));
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(!m("a", ""));
    }

    #[test]
    fn star() {
        assert!(m("*", "anything"));
        assert!(m("h*o", "hello"));
        assert!(m("h*o", "ho"));
        assert!(m("h*", "h"));
        assert!(m("*o", "hello"));
        assert!(m("*l*", "hello"));
        assert!(!m("*x*", "hello"));
        assert!(m("h**o", "hello"));
        assert!(m("h***", "h"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(m("*.*", "file.txt"));
        assert!(m("user:*:name", "user:1000:name"));
    }

    #[test]
    fn star_never_matches_empty_string() {
        // Redis quirk: the loop ends once the string is empty, before
        // looking at the pattern. KEYS special-cases "*" itself.
        assert!(!m("*", ""));
        assert!(!m("**", ""));
        assert!(!m("?", ""));
        assert!(!m("[a]", ""));
    }

    #[test]
    fn question_mark() {
        assert!(m("h?llo", "hello"));
        assert!(m("h?llo", "hallo"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("???", "abc"));
        assert!(!m("???", "ab"));
        assert!(m("*?", "a"));
    }

    #[test]
    fn classes() {
        assert!(m("h[ae]llo", "hello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(!m("h[a-b]llo", "hcllo"));
        assert!(m("[z-a]", "q"), "reversed ranges are swapped");
        // "a-]" is a range from 'a' down to ']', so the class never closes.
        assert!(m("[a-]", "a"));
        assert!(m("[a-]", "^"));
        assert!(m("[a-]", "]"));
        assert!(!m("[a-]", "-"));
        assert!(!m("[]", "]"), "[] is an empty class");
        assert!(!m("[]]", "]"));
        assert!(m("[\\]]", "]"));
        assert!(m("[\\^]", "^"));
        assert!(m("[\\-]", "-"));
        assert!(!m("[\\-]", "a"));
        assert!(m("[0-9][0-9]", "42"));
        assert!(!m("[0-9][0-9]", "4x"));
    }

    #[test]
    fn classes_nocase() {
        assert!(mi("[A-C]", "b"));
        assert!(mi("[a-c]", "B"));
        assert!(mi("[X]", "x"));
        assert!(!m("[A-C]", "b"));
        // Escapes inside a class are compared without folding, as in Redis.
        assert!(!mi("[\\A]", "a"));
        assert!(mi("[\\A]", "A"));
    }

    #[test]
    fn unterminated_classes() {
        assert!(m("[abc", "a"));
        assert!(m("[abc", "c"));
        assert!(!m("[abc", "d"));
        assert!(!m("[abc", "ab"));
        assert!(!m("[", "a"));
        assert!(m("[^", "a"), "empty negated class matches any byte");
        assert!(m("[a-", "-"), "too short for a range: two literals");
        assert!(m("[a-", "a"));
        assert!(m("[\\", "\\"));
    }

    #[test]
    fn escapes() {
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
        assert!(m("\\?", "?"));
        assert!(!m("\\?", "a"));
        assert!(m("\\[a]", "[a]"));
        assert!(m("a\\", "a\\"), "a trailing backslash is literal");
        assert!(m("\\\\", "\\"));
        assert!(m("foo\\*bar*", "foo*bar-baz"));
    }

    #[test]
    fn signed_char_ranges() {
        // 0xff is -1 as a C char, so [a-\xff] is the range -1..='a'.
        assert!(!glob_match(b"[a-\xff]", b"b", false));
        assert!(glob_match(b"[a-\xff]", b"A", false));
        assert!(glob_match(b"[a-\xff]", b"\xff", false));
        assert!(!glob_match(b"[a-\xff]", b"\x80", false));
        assert!(glob_match(b"[\x80-\xff]", b"\x90", false));
        assert!(!glob_match(b"[\x80-\xff]", b"a", false));
    }

    #[test]
    fn binary_bytes() {
        assert!(glob_match(b"a\0b", b"a\0b", false));
        assert!(glob_match(b"*\0*", b"xx\0yy", false));
        assert!(!glob_match(b"a\0b", b"a\0c", false));
        assert!(glob_match(b"[\0]", b"\0", false));
    }

    #[test]
    fn nocase_folds_ascii_only() {
        assert!(mi("HELLO*", "hello world"));
        assert!(mi("maxmemory*", "MAXMEMORY-POLICY"));
        assert!(!glob_match(b"\xc3\x89", b"\xc3\xa9", true));
    }

    #[test]
    fn pathological_patterns_are_fast() {
        let s = "a".repeat(10_000);
        let p = format!("{}b", "*a".repeat(50));
        let t = std::time::Instant::now();
        assert!(!m(&p, &s));
        let p2 = format!("{}*", "a*".repeat(500));
        assert!(m(&p2, &s));
        let p3 = "*?".repeat(200) + "x";
        assert!(!m(&p3, &s));
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn nesting_limit() {
        let s = "a".repeat(2000);
        // 1000 stars nest 1000 deep: still allowed.
        let ok = "*a".repeat(1000);
        assert!(m(&ok, &s));
        // One more star exceeds Redis's limit and yields "no match".
        let too_deep = "*a".repeat(1001);
        assert!(!m(&too_deep, &s));
    }

    #[test]
    fn no_panic_on_random_input() {
        // A tiny xorshift so the test needs no dependencies.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let alphabet = b"ab*?[]^-\\\0\xff";
        for _ in 0..200_000 {
            let pl = (next() % 12) as usize;
            let sl = (next() % 12) as usize;
            let p: Vec<u8> = (0..pl)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let s: Vec<u8> = (0..sl)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let _ = glob_match(&p, &s, next() % 2 == 0);
        }
    }
}
