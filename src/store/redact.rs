//! Password removal for anything that is about to be stored: URLs, free text and settings JSON.
//!
//! The target module is expected to hand the store an already redacted URL; this is the second
//! line of defence, so it errs on the side of removing too much rather than leaking a secret.

use serde_json::Value;

/// Query parameter and settings keys whose values are secrets.
fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    matches!(
        key.as_str(),
        "password" | "passwd" | "pass" | "pwd" | "mysql_pwd" | "secret"
    ) || key.ends_with("_password")
}

/// Removes the password from a URL: the `:password` of a `user:password@` part and any
/// `password=`-like query parameter. Everything else is kept as written.
///
/// `mysql://u:secret@h:3306/db` becomes `mysql://u@h:3306/db`, and
/// `mysql://u@h/db?password=secret&ssl=true` becomes `mysql://u@h/db?ssl=true`. A password
/// written without percent-encoding (holding `@`, `/` or `?`) is removed whole.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };

    // Where the user information ends: the last `@` of the authority, or, when the password
    // holds an unencoded `/`, `?` or `#`, the last `@` before any `=` provided the text up to
    // the first delimiter is `user:something` where `something` is not a port number.
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let strict_at = rest[..authority_end].rfind('@');
    let loose_at = {
        let before_eq = &rest[..rest.find('=').unwrap_or(rest.len())];
        let first = &rest[..authority_end];
        let looks_like_password = first
            .split_once(':')
            .is_some_and(|(_, p)| !p.bytes().all(|b| b.is_ascii_digit()));
        before_eq.rfind('@').filter(|_| looks_like_password)
    };
    let (user, after) = match strict_at.max(loose_at) {
        Some(at) => {
            let userinfo = &rest[..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            (user, &rest[at + 1..])
        }
        None => ("", rest),
    };

    let mut out = String::with_capacity(url.len());
    out.push_str(scheme);
    if !user.is_empty() {
        out.push_str(user);
        out.push('@');
    }
    match after.find('?') {
        None => out.push_str(after),
        Some(q) => {
            out.push_str(&after[..q]);
            let (query, fragment) = match after[q + 1..].find('#') {
                Some(h) => after[q + 1..].split_at(h),
                None => (&after[q + 1..], ""),
            };
            let kept: Vec<&str> = query
                .split('&')
                .filter(|p| !is_secret_key(p.split('=').next().unwrap_or_default()))
                .collect();
            if !(kept.is_empty() || kept == [""]) {
                out.push('?');
                out.push_str(&kept.join("&"));
            }
            out.push_str(fragment);
        }
    }
    out
}

/// Redacts every URL (a whitespace-separated word holding `://`) inside free text, such as an
/// error message kept as a run's status reason.
pub(crate) fn redact_text(text: &str) -> String {
    if !text.contains("://") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut word_start = None;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            if let Some(s) = word_start.take() {
                out.push_str(&redact_word(&text[s..i]));
            }
            out.push(c);
        } else if word_start.is_none() {
            word_start = Some(i);
        }
    }
    if let Some(s) = word_start {
        out.push_str(&redact_word(&text[s..]));
    }
    out
}

fn redact_word(word: &str) -> String {
    if word.contains("://") {
        // Keep quotes or brackets around a URL outside the part that is parsed.
        let start = word.find(|c: char| c.is_ascii_alphanumeric()).unwrap_or(0);
        let (lead, url) = word.split_at(start);
        format!("{lead}{}", redact_url(url))
    } else {
        word.to_string()
    }
}

/// Removes secret-named keys and redacts URLs in every string of a JSON value (the settings).
pub(crate) fn redact_json(value: &mut Value) {
    match value {
        Value::String(s) => {
            if s.contains("://") {
                *s = redact_text(s);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_json),
        Value::Object(map) => {
            map.retain(|k, _| !is_secret_key(k));
            map.values_mut().for_each(redact_json);
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_the_password_from_user_information() {
        for (input, want) in [
            ("mysql://u:secret@h:3306/db", "mysql://u@h:3306/db"),
            ("mysql://u:secret@h", "mysql://u@h"),
            ("mysql://u:@h/db", "mysql://u@h/db"),
            ("mysql://:secret@h/db", "mysql://h/db"),
            ("mysql://u:p%40ss@[::1]:3306/db", "mysql://u@[::1]:3306/db"),
            ("u:secret@h:3306", "u@h:3306"),
        ] {
            assert_eq!(redact_url(input), want, "{input}");
        }
    }

    #[test]
    fn removes_unencoded_passwords_whole() {
        for (input, want) in [
            ("mysql://u:p@ss@h/db", "mysql://u@h/db"),
            ("mysql://u:p/ss@h/db", "mysql://u@h/db"),
            ("mysql://u:p?ss@h/db", "mysql://u@h/db"),
            ("mysql://u:p#ss@h/db?x=1", "mysql://u@h/db?x=1"),
        ] {
            assert_eq!(redact_url(input), want, "{input}");
        }
    }

    #[test]
    fn removes_password_query_parameters() {
        for (input, want) in [
            ("mysql://h/db?password=secret", "mysql://h/db"),
            (
                "mysql://u:s@h/db?password=secret&ssl=true",
                "mysql://u@h/db?ssl=true",
            ),
            (
                "mysql://h/db?a=1&PASSWORD=x&pwd=y&b=2#frag",
                "mysql://h/db?a=1&b=2#frag",
            ),
            ("mysql://h/db?password", "mysql://h/db"),
        ] {
            assert_eq!(redact_url(input), want, "{input}");
        }
    }

    #[test]
    fn leaves_urls_without_a_password_alone() {
        for url in [
            "",
            "mysql://h",
            "mysql://u@h:3306/db",
            "mysql://h:3306/db",
            "mysql://h:3306/my@db",
            "mysql://u@h/db?ssl_key=/home/me@corp/key.pem&x=1",
            "mysql://u@h/db?",
        ] {
            let want = url.strip_suffix('?').unwrap_or(url);
            assert_eq!(redact_url(url), want, "{url}");
        }
    }

    #[test]
    fn redacts_urls_inside_text_and_json() {
        assert_eq!(
            redact_text("cannot connect to 'mysql://u:secret@h:3306/db': refused\n again"),
            "cannot connect to 'mysql://u@h:3306/db': refused\n again"
        );
        let mut v = serde_json::json!({
            "target": "mysql://u:secret@h/db",
            "password": "secret",
            "nested": [{"db_password": "secret", "url": "x mysql://a:secret@b"}],
            "workers": 4,
        });
        redact_json(&mut v);
        assert_eq!(
            v,
            serde_json::json!({
                "target": "mysql://u@h/db",
                "nested": [{"url": "x mysql://a@b"}],
                "workers": 4,
            })
        );
    }
}
