//! The values of `#[tsercom::runtime(...)]`'s keys: each checked as the
//! runtime checks it (service types, `host:port` addresses, interface
//! selections), with the examples and hints the error messages quote.

use std::net::SocketAddr;

use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Lit, LitStr};

use crate::args::{Addrs, Errors};

/// `interfaces = "..."`: where mDNS runs (parsed by tsercom-validate, as
/// `tsercom::discovery::Interfaces::parse` does at run time).
pub(crate) use tsercom_validate::InterfaceSelection;

pub(crate) fn string(value: &Expr) -> Option<LitStr> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Some(s.clone()),
        _ => None,
    }
}

pub(crate) fn path(value: &Expr) -> Option<syn::Path> {
    match value {
        Expr::Path(p) if p.qself.is_none() && p.attrs.is_empty() => Some(p.path.clone()),
        _ => None,
    }
}

/// Checks `_name._tcp` / `_name._udp` (optionally `.local` / `.local.`)
/// by tsercom-validate's rules, as `tsercom::discovery::normalize_service_type`
/// does at run time; the wording is the macro's.
pub(crate) fn check_service_type(text: &str) -> Result<(), String> {
    use tsercom_validate::ServiceTypeError as E;
    match tsercom_validate::parse_service_type(text) {
        Ok(_) => Ok(()),
        Err(E::Shape) => {
            Err("expected `_name._tcp` (or `_name._udp`), e.g. \"_sensors._tcp\"".into())
        }
        Err(E::Protocol(proto)) => Err(format!(
            "the protocol part is `{proto}`; expected `_tcp` or `_udp`"
        )),
        Err(E::NoUnderscore(name)) => Err(format!("the name part `{name}` must start with `_`")),
        Err(E::Length(bare)) => Err(format!("the name `{bare}` must have 1 to 15 characters")),
        Err(E::Character(bare)) => Err(format!(
            "the name `{bare}` may only hold letters, digits and `-`"
        )),
        Err(E::EdgeHyphen(bare)) => {
            Err(format!("the name `{bare}` must not start or end with `-`"))
        }
    }
}

/// Checks `host:port` (a DNS name, an IPv4 literal or a bracketed IPv6
/// literal), as `tsercom::discovery::StaticPeer::parse` does at run time.
/// `port 0` is allowed only when `any_port` (listening).
fn check_host_port(text: &str, any_port: bool) -> Result<(), String> {
    let text = text.trim();
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err("expected `host:port`".into());
    };
    match port.parse::<u16>() {
        Ok(0) if !any_port => return Err("the port must be 1 to 65535".into()),
        Ok(_) => {}
        Err(_) => return Err(format!("`{port}` is not a port (1 to 65535)")),
    }
    if text.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    // All digits and dots: meant as an IPv4 address, and not a valid one.
    if host.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(format!("`{host}` is not an IPv4 address"));
    }
    if host.starts_with('[') || host.contains(':') {
        return Err("an IPv6 address goes in brackets, e.g. \"[::1]:50051\"".into());
    }
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.is_empty() || name.len() > 253 || !name.split('.').all(valid_label) {
        return Err(format!("`{host}` is not a host name or an IP address"));
    }
    Ok(())
}

/// `"host:port"`, `["host:port", ...]`, `env("VAR")` or `self.field`.
pub(crate) fn addrs(value: &Expr, key: &str, errors: &mut Errors) -> Option<Addrs> {
    match value {
        Expr::Call(call) => {
            let is_env = matches!(&*call.func, Expr::Path(p) if p.path.is_ident("env"));
            let arg = call.args.first().and_then(string);
            match (is_env, arg, call.args.len()) {
                (true, Some(var), 1) => {
                    let text = var.value();
                    if text.is_empty()
                        || !text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    {
                        errors.push(
                            var.span(),
                            format!(
                                "`{key}`: {text:?} is not an environment variable name (letters, digits and `_`)"
                            ),
                        );
                        return None;
                    }
                    Some(Addrs::Env(var))
                }
                _ => {
                    errors.push(
                        call.span(),
                        format!(
                            "`{key}`: expected `env(\"VARIABLE\")` (one string: the environment variable holding `host:port` entries separated by `,`)"
                        ),
                    );
                    None
                }
            }
        }
        Expr::Field(field) => {
            let on_self = matches!(&*field.base, Expr::Path(p) if p.path.is_ident("self"));
            if on_self {
                Some(Addrs::Field(field.member.clone()))
            } else {
                errors.push(
                    field.span(),
                    format!("`{key}`: only a field of the struct itself can be named, e.g. `{key} = self.{key}`"),
                );
                None
            }
        }
        other => {
            let lits: Option<Vec<LitStr>> = match other {
                Expr::Array(array) => array.elems.iter().map(string).collect(),
                single => string(single).map(|s| vec![s]),
            };
            let Some(lits) = lits else {
                errors.push(value.span(), format!("`{key}` expects {}", example(key)));
                return None;
            };
            if lits.is_empty() {
                errors.push(
                    value.span(),
                    format!("`{key}` is empty: list at least one address"),
                );
                return None;
            }
            let mut ok = true;
            for lit in &lits {
                if let Err(reason) = check_host_port(&lit.value(), key == "listen") {
                    errors.push(
                        lit.span(),
                        format!(
                            "`{key}`: {:?} is not an address: {reason}, e.g. \"localhost:50051\", \"10.0.0.5:50051\" or \"[::1]:50051\"",
                            lit.value()
                        ),
                    );
                    ok = false;
                }
            }
            ok.then_some(Addrs::Literal(lits))
        }
    }
}

/// `discover`: an mDNS service type, or `dns:` and a DNS-SD name beyond the
/// LAN (`dns:_sensors._tcp.fleet.example`).
pub(crate) fn check_discover(text: &str) -> Result<(), String> {
    let Some(name) = text.strip_prefix("dns:") else {
        return check_service_type(text);
    };
    let name = name.trim_end_matches('.');
    let mut labels = name.splitn(3, '.');
    let (Some(service), Some(proto), Some(domain)) = (labels.next(), labels.next(), labels.next())
    else {
        return Err(
            "after `dns:`, expected a service type and a domain, e.g. \"dns:_sensors._tcp.fleet.example\"".into(),
        );
    };
    check_service_type(&format!("{service}.{proto}"))?;
    if domain.split('.').any(str::is_empty) {
        return Err(format!("`{domain}` is not a domain name"));
    }
    Ok(())
}

/// Levenshtein distance, for "did you mean" hints.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

pub(crate) fn example(key: &str) -> &'static str {
    match key {
        "publish" => "a service type string, e.g. `publish = \"_sensors._tcp\"`",
        "discover" => {
            "a service type string, e.g. `discover = \"_sensors._tcp\"` (mDNS) or `discover = \"dns:_sensors._tcp.fleet.example\"` (unicast DNS-SD)"
        }
        "peers" => {
            "a `host:port` string, a list of them, `env(\"VARIABLE\")` or `self.field`, e.g. `peers = [\"trainer.local:50051\"]`"
        }
        "listen" => {
            "a `host:port` string, a list of them, `env(\"VARIABLE\")` or `self.field`, e.g. `listen = \"0.0.0.0:50051\"`"
        }
        "method" => {
            "the name of one of the service's bidirectional methods, e.g. `method = Upload`"
        }
        "port" => "a port number, e.g. `port = 50051`",
        "interfaces" => "a string, e.g. `interfaces = \"loopback\"`",
        "service" => "the service's name, e.g. `service = Sensor`",
        "data" => "the stream's data message, e.g. `data = Reading`",
        "event" => "the stream's event message, e.g. `event = Command`",
        "name" => "a string, e.g. `name = \"thermometer\"`",
        "config" => "a function `fn(RuntimeConfig) -> RuntimeConfig`, e.g. `config = my_config`",
        "crate" => "the path of the tsercom crate as a string, e.g. `crate = \"tsercom\"`",
        _ => "no value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The runtime's unit tests check the same table (tsercom-validate's),
    /// so the macro and the runtime accept the same inputs.
    #[test]
    fn service_types_and_interfaces_follow_the_shared_table() {
        for &(text, valid) in tsercom_validate::cases::SERVICE_TYPES {
            assert_eq!(check_service_type(text).is_ok(), valid, "{text:?}");
            assert_eq!(check_discover(text).is_ok(), valid, "discover {text:?}");
        }
        for &(text, valid) in tsercom_validate::cases::INTERFACE_LISTS {
            assert_eq!(
                tsercom_validate::parse_interfaces(text).is_some(),
                valid,
                "{text:?}"
            );
        }
    }
}
