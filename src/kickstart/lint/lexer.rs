//! How the installer cuts a kickstart into commands and script bodies.
//!
//! Follows weasel's `kickstartfile.py` (`KickstartFile`) and the tokenizer
//! of `scriptedinstall.py` (`tokenizeLine`): the file is read as lines with
//! `\r\n` turned into `\n`; each line is split by Python's
//! `shlex.split(line, comments=True)` in POSIX mode; a `%pre`, `%post` or
//! `%firstboot` line takes every following line, up to one that *starts*
//! (no leading blanks) with `%post`, `%pre`, `%packages`, `%vmlicense_text`,
//! `%firstboot`, `%include` or `include`, as its script body. `%end` is not
//! among them.
//!
//! Facts of shlex kept here: only space, tab, CR and LF separate words; `#`
//! starts a comment even in the middle of a word (`VMware1#x` is `VMware1`);
//! single and double quotes group and are removed; a backslash escapes the
//! next character outside quotes, and only `\` or `"` inside double quotes;
//! an unclosed quote or a trailing backslash fails the whole line.

/// One line as the installer reads it: the text after `\r\n` became `\n`,
/// with its newline if it has one.
pub struct Line<'a> {
    pub no: usize,
    pub text: std::borrow::Cow<'a, str>,
}

pub fn lines(text: &str) -> Vec<Line<'_>> {
    text.split_inclusive('\n')
        .enumerate()
        .map(|(i, raw)| Line {
            no: i + 1,
            text: match raw.strip_suffix("\r\n") {
                Some(body) => std::borrow::Cow::Owned(format!("{body}\n")),
                None => std::borrow::Cow::Borrowed(raw),
            },
        })
        .collect()
}

/// Words that end a script body when a line starts with them.
const KEYWORDS: &[&str] = &[
    "%post",
    "%pre",
    "%packages",
    "%vmlicense_text",
    "%firstboot",
    "%include",
    "include",
];

pub fn starts_with_keyword(line: &str) -> bool {
    KEYWORDS.iter().any(|k| line.starts_with(k))
}

/// shlex's two failures, in its words.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenError {
    NoClosingQuotation,
    NoEscapedCharacter,
}

impl TokenError {
    pub fn message(&self) -> &'static str {
        match self {
            TokenError::NoClosingQuotation => "No closing quotation",
            TokenError::NoEscapedCharacter => "No escaped character",
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum State {
    Space,
    Word,
    Quote(char),
    Escape,
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// `shlex.split(line, comments=True)`.
pub fn tokenize(line: &str) -> Result<Vec<String>, TokenError> {
    let mut tokens = Vec::new();
    let mut token = String::new();
    let mut quoted = false;
    let mut state = State::Space;
    let mut after_escape = State::Word;
    let mut chars = line.chars();
    loop {
        let next = chars.next();
        match state {
            State::Space | State::Word => {
                let Some(c) = next else { break };
                if is_space(c) || c == '#' {
                    if state == State::Word || quoted {
                        tokens.push(std::mem::take(&mut token));
                        quoted = false;
                    }
                    state = State::Space;
                    if c == '#' {
                        break;
                    }
                } else if c == '\\' {
                    after_escape = State::Word;
                    state = State::Escape;
                } else if c == '"' || c == '\'' {
                    state = State::Quote(c);
                } else {
                    token.push(c);
                    state = State::Word;
                }
            }
            State::Quote(q) => {
                quoted = true;
                let Some(c) = next else {
                    return Err(TokenError::NoClosingQuotation);
                };
                if c == q {
                    state = State::Word;
                } else if c == '\\' && q == '"' {
                    after_escape = state;
                    state = State::Escape;
                } else {
                    token.push(c);
                }
            }
            State::Escape => {
                let Some(c) = next else {
                    return Err(TokenError::NoEscapedCharacter);
                };
                if let State::Quote(q) = after_escape {
                    if c != '\\' && c != q {
                        token.push('\\');
                    }
                }
                token.push(c);
                state = after_escape;
            }
        }
    }
    if state == State::Word || quoted {
        tokens.push(token);
    }
    Ok(tokens)
}

/// The body of a script that starts after line index `header`: the lines
/// up to the next keyword line, the index where parsing resumes, and
/// whether the installer lost that keyword line. It loses it when it is the
/// file's last line: `getLinesUntilNextKeyword` reads it and only steps
/// back when lines remain after it.
pub struct Body {
    pub first: usize,
    pub end: usize,
    pub resume: usize,
    pub swallowed: Option<usize>,
}

pub fn body(lines: &[Line], header: usize) -> Body {
    let first = header + 1;
    let mut end = first;
    while end < lines.len() && !starts_with_keyword(&lines[end].text) {
        end += 1;
    }
    let swallowed = (end + 1 == lines.len()).then_some(end);
    Body {
        first,
        end,
        resume: if swallowed.is_some() { end + 1 } else { end },
        swallowed,
    }
}

/// A `%pre`, `%post` or `%firstboot` section: its header's line and its
/// body lines (numbered), cut as the installer cuts them.
pub struct Script {
    pub section: &'static str,
    pub line: usize,
    pub body: Vec<(usize, String)>,
}

/// Every script section of a kickstart.
pub fn scripts(text: &str) -> Vec<Script> {
    let lines = lines(text);
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let word = lines[i].text.split_whitespace().next().unwrap_or_default();
        let Some(section) = ["%pre", "%post", "%firstboot"]
            .into_iter()
            .find(|s| *s == word)
        else {
            i += 1;
            continue;
        };
        let b = body(&lines, i);
        out.push(Script {
            section,
            line: lines[i].no,
            body: lines[b.first..b.end]
                .iter()
                .map(|l| (l.no, l.text.to_string()))
                .collect(),
        });
        i = b.resume.max(i + 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(s: &str) -> Vec<String> {
        tokenize(s).unwrap()
    }

    #[test]
    fn shlex_facts() {
        assert_eq!(
            tok("rootpw --iscrypted $1$x$y # made with openssl\n"),
            ["rootpw", "--iscrypted", "$1$x$y"]
        );
        assert_eq!(tok("rootpw VMware1#x\n"), ["rootpw", "VMware1"]);
        assert_eq!(tok("keyboard 'US Default'\n"), ["keyboard", "US Default"]);
        assert_eq!(tok("a \"x\\\"y\\z\"\n"), ["a", "x\"y\\z"]);
        assert_eq!(tok("a b\\ c\n"), ["a", "b c"]);
        assert_eq!(tok("rootpw \"\"\n"), ["rootpw", ""]);
        assert_eq!(tok("net --dev=vmnic0 \\\n"), ["net", "--dev=vmnic0", "\n"]);
        assert_eq!(tok("\u{feff}vmaccepteula\n"), ["\u{feff}vmaccepteula"]);
        assert_eq!(tok("a\u{a0}b\x0cc\n"), ["a\u{a0}b\x0cc"]);
        assert_eq!(tok("   # comment\n"), Vec::<String>::new());
        assert_eq!(tokenize("a \"open\n"), Err(TokenError::NoClosingQuotation));
        assert_eq!(tokenize("a \\"), Err(TokenError::NoEscapedCharacter));
    }

    #[test]
    fn bodies() {
        let text = "%pre\necho\n  %post\n%end\ninclude x\nreboot\n";
        let l = lines(text);
        let b = body(&l, 0);
        assert_eq!((b.first, b.end, b.resume, b.swallowed), (1, 4, 4, None));
        let l = lines("%post\necho\n%firstboot\n");
        let b = body(&l, 0);
        assert_eq!((b.end, b.resume, b.swallowed), (2, 3, Some(2)));
        let l = lines("a\r\nb\rc\n");
        assert_eq!(l[0].text, "a\n");
        assert_eq!(l[1].text, "b\rc\n");
    }
}
