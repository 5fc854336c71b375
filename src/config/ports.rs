//! Ports: `port = 8080`, or `port = "auto"` for the next free one from
//! `port_base` in steps of `port_step`, as overmind hands them out; and
//! `${port}` and `${NAME.port}` in a pane's `cmd` and `env`, expanded
//! before any shell sees them. Ports are chosen once, when the file loads,
//! and kept across restarts, so a pane that read another's port stays
//! right.

/// Where `port = "auto"` starts looking, by default.
pub const DEFAULT_BASE: u16 = 5000;
/// How far apart automatic ports are, by default.
pub const DEFAULT_STEP: u16 = 100;

/// `n` as a port, when it is one: a number from 1 to 65535.
pub fn number(n: i64) -> Option<u16> {
    u16::try_from(n).ok().filter(|&port| port > 0)
}

/// What a pane asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wanted {
    Fixed(u16),
    Auto,
}

/// Automatic ports ran out, past 65535, at pane `pane`.
#[derive(Debug)]
pub struct RanOut {
    pub pane: usize,
    base: u16,
    step: u16,
}

impl std::fmt::Display for RanOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self { base, step, .. } = self;
        write!(f, "no free port is left from {base} in steps of {step}")
    }
}

/// Chooses each pane's port: a fixed one as it is, an automatic one the
/// first from `base` in steps of `step` that no other pane has and that
/// `is_free` says nothing holds. `None` for a pane that wants none; an
/// error when the automatic ports run out.
pub fn assign(
    wanted: &[Option<Wanted>],
    base: u16,
    step: u16,
    is_free: impl Fn(u16) -> bool,
) -> Result<Vec<Option<u16>>, RanOut> {
    let mut taken: Vec<u16> = wanted
        .iter()
        .filter_map(|w| match w {
            Some(Wanted::Fixed(port)) => Some(*port),
            _ => None,
        })
        .collect();
    let mut next = u32::from(base);
    let mut ports = Vec::with_capacity(wanted.len());
    for (pane, want) in wanted.iter().enumerate() {
        let port = match want {
            None => None,
            Some(Wanted::Fixed(port)) => Some(*port),
            Some(Wanted::Auto) => loop {
                let Ok(port) = u16::try_from(next) else {
                    return Err(RanOut { pane, base, step });
                };
                next += u32::from(step.max(1));
                if !taken.contains(&port) && is_free(port) {
                    taken.push(port);
                    break Some(port);
                }
            },
        };
        ports.push(port);
    }
    Ok(ports)
}

/// Whether nothing listens on TCP `port`, on any address: binding it on
/// every IPv4 address, and IPv6 ones, does not find it in use. Only "in
/// use" counts: a port opmux may not bind (below 1024) may still be one
/// the pane's program can, and a machine without IPv6 has nothing there.
pub fn is_free(port: u16) -> bool {
    use std::net::{Ipv4Addr, Ipv6Addr, TcpListener};
    let in_use = |bound: std::io::Result<TcpListener>| {
        bound.is_err_and(|e| e.kind() == std::io::ErrorKind::AddrInUse)
    };
    !in_use(TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)))
        && !in_use(TcpListener::bind((Ipv6Addr::UNSPECIFIED, port)))
}

/// `text` with `${port}` replaced by `own` and `${NAME.port}` by the port
/// of pane NAME, which `port_of` gives (`None` for no such pane,
/// `Some(None)` for a pane without a port); `$${` is a literal `${`. Any
/// other `${` is left as it is, for the shell (`${HOME}`). An error says
/// which reference cannot be expanded and why.
pub fn expand(
    text: &str,
    own: Option<u16>,
    port_of: &dyn Fn(&str) -> Option<Option<u16>>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        if rest[..at].ends_with('$') {
            // `$${`: the escape, a literal `${`.
            out.push_str(&rest[..at - 1]);
            out.push_str("${");
            rest = &rest[at + 2..];
            continue;
        }
        out.push_str(&rest[..at]);
        let inner_end = rest[at..].find('}').map(|end| at + end);
        let reference = inner_end.map(|end| &rest[at + 2..end]);
        let port = match reference {
            Some("port") => Some(own.ok_or_else(|| {
                "`${port}` is this pane's port, and it has none: give it `port = …`".to_string()
            })?),
            Some(reference) => match reference.strip_suffix(".port") {
                Some(name) => match port_of(name) {
                    Some(Some(port)) => Some(port),
                    Some(None) => {
                        return Err(format!(
                            "`${{{reference}}}`: pane `{name}` has no port: give it `port = …`"
                        ));
                    }
                    None => {
                        return Err(format!("`${{{reference}}}`: no pane is named `{name}`"));
                    }
                },
                None => None,
            },
            None => None,
        };
        match (port, inner_end) {
            (Some(port), Some(end)) => {
                out.push_str(&port.to_string());
                rest = &rest[end + 1..];
            }
            // Not ours: kept as it is.
            _ => {
                out.push_str("${");
                rest = &rest[at + 2..];
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<Option<u16>> {
        match name {
            "api" => Some(Some(5000)),
            "db" => Some(None),
            _ => None,
        }
    }

    #[test]
    fn references_expand_and_the_rest_is_left_for_the_shell() {
        let expanded = expand(
            "serve --port ${port} --api http://localhost:${api.port}/ ${HOME} $${port} $$",
            Some(5100),
            &lookup,
        );
        assert_eq!(
            expanded.unwrap(),
            "serve --port 5100 --api http://localhost:5000/ ${HOME} ${port} $$"
        );
        assert_eq!(expand("${unclosed", None, &lookup).unwrap(), "${unclosed");
        assert_eq!(expand("a.port}", None, &lookup).unwrap(), "a.port}");
    }

    #[test]
    fn a_reference_that_cannot_be_expanded_says_why() {
        let own = expand("${port}", None, &lookup).unwrap_err();
        assert!(own.contains("has none"), "{own}");
        let none = expand("${db.port}", None, &lookup).unwrap_err();
        assert!(none.contains("pane `db` has no port"), "{none}");
        let unknown = expand("${web.port}", None, &lookup).unwrap_err();
        assert!(unknown.contains("no pane is named `web`"), "{unknown}");
    }

    #[test]
    fn automatic_ports_skip_taken_and_fixed_ones_in_steps() {
        let wanted = [
            Some(Wanted::Auto),
            None,
            Some(Wanted::Fixed(5100)),
            Some(Wanted::Auto),
            Some(Wanted::Auto),
        ];
        // 5200 is held by something else.
        let ports = assign(&wanted, 5000, 100, |p| p != 5200).unwrap();
        assert_eq!(
            ports,
            [Some(5000), None, Some(5100), Some(5300), Some(5400)]
        );
        let error = assign(&[Some(Wanted::Auto)], 65500, 100, |_| false).unwrap_err();
        assert!(error.to_string().contains("no free port"), "{error}");
    }

    #[test]
    fn a_port_something_listens_on_is_not_free() {
        let listener = std::net::TcpListener::bind(("0.0.0.0", 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(!is_free(port));
        drop(listener);
        assert!(is_free(port));
    }
}
