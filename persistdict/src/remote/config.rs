//! The remote tier's settings, from the environment, and the redaction of
//! the URL's secret.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `PERSISTDICT_REMOTE` | `redis://…`, `rediss://…` (feature `redis-tls`), `redis+unix:///path` | off |
//! | `PERSISTDICT_REMOTE_NAMESPACE` | keeps projects sharing a server apart | the crate name |
//! | `PERSISTDICT_REMOTE_TIMEOUT_MS` | connect, read and write timeout | 250 |
//! | `PERSISTDICT_REMOTE_MAX_VALUE` | bytes; larger results stay local | 8 MiB |
//! | `PERSISTDICT_REMOTE_LEASE_MS` | fleet single flight: a lease not renewed for this long lapses | 10000 |

use std::time::Duration;

/// The timeout of every remote connect, read and write, unless set.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);
/// The largest value sent to the remote, unless set.
pub(crate) const DEFAULT_MAX_VALUE: usize = 8 << 20;
/// The lease of a fleet-wide computation, unless set.
pub(crate) const DEFAULT_LEASE: Duration = Duration::from_secs(10);

/// The process's remote settings (one server per process).
#[derive(Clone)]
pub(crate) struct Config {
    /// The URL as given: holds the password; never logged.
    pub url: String,
    /// The URL with its secrets replaced by `***`: what logs show.
    pub shown: String,
    /// The secrets in the URL (as written and percent-decoded), scrubbed
    /// from every error message before it is logged.
    pub secrets: Vec<String>,
    /// `PERSISTDICT_REMOTE_NAMESPACE`, if set.
    pub namespace: Option<String>,
    pub timeout: Duration,
    pub max_value: usize,
    pub lease: Duration,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("url", &self.shown)
            .field("namespace", &self.namespace)
            .field("timeout", &self.timeout)
            .field("max_value", &self.max_value)
            .field("lease", &self.lease)
            .finish()
    }
}

/// The settings in the environment: `None` when `PERSISTDICT_REMOTE` is
/// unset or empty, `Some(Err(why))` when they are unusable (`why` holds no
/// secret).
pub(crate) fn from_env() -> Option<Result<Config, String>> {
    let url = std::env::var("PERSISTDICT_REMOTE").ok()?.trim().to_string();
    if url.is_empty() {
        return None;
    }
    Some(parse(url, &|name| std::env::var(name).ok()))
}

/// [`from_env`] over any variable source (tests).
pub(crate) fn parse(url: String, var: &dyn Fn(&str) -> Option<String>) -> Result<Config, String> {
    let (shown, secrets) = redact(&url);
    let scheme = url.split("://").next().unwrap_or("").to_ascii_lowercase();
    match scheme.as_str() {
        "redis" | "valkey" | "redis+unix" | "unix" => {}
        "rediss" | "valkeys" if cfg!(feature = "redis-tls") => {}
        "rediss" | "valkeys" => return Err(format!("{shown}: TLS needs persistdict's `redis-tls` feature")),
        _ => return Err(format!("{shown}: not a redis://, rediss:// or redis+unix:// URL")),
    }
    let number = |name: &str, default: u64| -> Result<u64, String> {
        match var(name) {
            None => Ok(default),
            Some(v) if v.trim().is_empty() => Ok(default),
            Some(v) => v.trim().parse::<u64>().map_err(|_| format!("{name}={v:?} is not a whole number")),
        }
    };
    let timeout =
        Duration::from_millis(number("PERSISTDICT_REMOTE_TIMEOUT_MS", DEFAULT_TIMEOUT.as_millis() as u64)?.max(1));
    let max_value =
        usize::try_from(number("PERSISTDICT_REMOTE_MAX_VALUE", DEFAULT_MAX_VALUE as u64)?).unwrap_or(usize::MAX);
    let lease = Duration::from_millis(number("PERSISTDICT_REMOTE_LEASE_MS", DEFAULT_LEASE.as_millis() as u64)?.max(30));
    let namespace = var("PERSISTDICT_REMOTE_NAMESPACE").map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    if let Some(n) = &namespace {
        check_namespace(n)?;
    }
    Ok(Config { url, shown, secrets, namespace, timeout, max_value, lease })
}

/// A namespace is part of every key: no braces (they would move the key's
/// Redis Cluster hash tag), no whitespace or control characters.
pub(crate) fn check_namespace(n: &str) -> Result<(), String> {
    if n.chars().any(|c| c == '{' || c == '}' || c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "PERSISTDICT_REMOTE_NAMESPACE={n:?}: braces, spaces and control characters are not allowed"
        ));
    }
    Ok(())
}

/// The URL with its password (and a lone user-info part, and `pass=` /
/// `password=` query values) replaced by `***`, and the secrets removed.
pub(crate) fn redact(url: &str) -> (String, Vec<String>) {
    let mut secrets = Vec::new();
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(auth_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (userinfo, host) = authority.split_at(at);
            match userinfo.split_once(':') {
                Some((user, pass)) => {
                    secrets.push(pass.to_string());
                    format!("{user}:***{host}")
                }
                None => {
                    secrets.push(userinfo.to_string());
                    format!("***{host}")
                }
            }
        }
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, v)) if matches!(k.to_ascii_lowercase().as_str(), "pass" | "password") => {
                        secrets.push(v.to_string());
                        format!("{k}=***")
                    }
                    _ => p.to_string(),
                })
                .collect();
            format!("{path}?{}", params.join("&"))
        }
        None => tail.to_string(),
    };
    let decoded: Vec<String> = secrets.iter().map(|s| percent_decode(s)).collect();
    secrets.extend(decoded);
    secrets.retain(|s| !s.is_empty());
    secrets.sort();
    secrets.dedup();
    (format!("{scheme}{authority}{tail}"), secrets)
}

/// `%XX` sequences decoded (and `+` left alone, as in a URL's user info).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `text` with every secret replaced by `***`.
pub(crate) fn scrub(text: String, secrets: &[String]) -> String {
    if secrets.iter().any(|s| text.contains(s.as_str())) {
        let mut t = text;
        for s in secrets {
            t = t.replace(s.as_str(), "***");
        }
        t
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_wherever_the_url_holds_them() {
        let (shown, secrets) = redact("redis://app:s3cr%40t@cache.example:6379/2");
        assert_eq!(shown, "redis://app:***@cache.example:6379/2");
        assert!(secrets.contains(&"s3cr%40t".to_string()) && secrets.contains(&"s3cr@t".to_string()));
        let (shown, _) = redact("redis+unix:///run/redis.sock?db=1&pass=hunter2");
        assert_eq!(shown, "redis+unix:///run/redis.sock?db=1&pass=***");
        let (shown, secrets) = redact("rediss://tokenonly@h:6380");
        assert_eq!(shown, "rediss://***@h:6380");
        assert_eq!(secrets, ["tokenonly"]);
        assert_eq!(redact("redis://127.0.0.1:6379").0, "redis://127.0.0.1:6379");
        assert_eq!(scrub("bad password hunter2!".into(), &["hunter2".into()]), "bad password ***!");
    }

    #[test]
    fn settings_are_checked() {
        let none = |_: &str| None;
        let c = parse("redis://:pw@h:1".into(), &none).unwrap();
        assert_eq!((c.timeout, c.max_value, c.lease), (DEFAULT_TIMEOUT, DEFAULT_MAX_VALUE, DEFAULT_LEASE));
        assert!(!format!("{c:?}").contains("pw"));
        let bad = parse("http://:pw@h:1".into(), &none).unwrap_err();
        assert!(!bad.contains("pw") && bad.contains("***"), "{bad}");
        let t = |name: &str| (name == "PERSISTDICT_REMOTE_TIMEOUT_MS").then(|| "40".to_string());
        assert_eq!(parse("redis://h".into(), &t).unwrap().timeout, Duration::from_millis(40));
        let ns = |name: &str| (name == "PERSISTDICT_REMOTE_NAMESPACE").then(|| "a{b}".to_string());
        assert!(parse("redis://h".into(), &ns).is_err());
    }
}
