//! The registrable domain of a URL (`news.example.co.uk` → `example.co.uk`, by the Public Suffix List) and
//! whether it is a URL shortener (a list kept in `shorteners.txt`).

/// The host of a URL as echolens stores URLs (`scheme://host[:port]/...`, lower case), without a port.
pub fn host(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host.starts_with('[') {
        host.split_once(']').map_or(host, |(h, _)| &host[..h.len() + 1])
    } else {
        host.split(':').next().unwrap_or(host)
    };
    let host = host.trim_end_matches('.');
    (!host.is_empty() && !host.contains(char::is_whitespace)).then_some(host)
}

/// The registrable domain of `url`: its public suffix and the label before it (`example.co.uk`); the host
/// itself for an IP address or a host the list does not know the suffix of (`localhost`).
pub fn registrable_domain(url: &str) -> Option<&str> {
    let host = host(url)?;
    if host.starts_with('[') || host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Some(host);
    }
    Some(psl::domain_str(host).unwrap_or(host))
}

/// Whether `domain` (a registrable domain) is a URL shortener.
pub fn is_shortener(domain: &str) -> bool {
    SHORTENERS.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).any(|s| s == domain)
}

const SHORTENERS: &str = include_str!("shorteners.txt");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrable_domains_follow_the_public_suffix_list() {
        let cases = [
            ("https://news.example.co.uk/a?b=1", Some("example.co.uk")),
            ("https://www.bbc.com/persian", Some("bbc.com")),
            ("http://user:pw@sub.example.org:8080/x", Some("example.org")),
            ("https://t.co/AbC", Some("t.co")),
            ("https://a.b.blogspot.com/", Some("b.blogspot.com")),
            ("https://192.168.0.1/x", Some("192.168.0.1")),
            ("https://[::1]:80/x", Some("[::1]")),
            ("https://localhost/x", Some("localhost")),
            ("https://xn--mgbaam7a8h.xn--mgbab2bd/", Some("xn--mgbaam7a8h.xn--mgbab2bd")),
            ("not a url", None),
            ("https:///path", None),
        ];
        for (url, want) in cases {
            assert_eq!(registrable_domain(url), want, "{url}");
        }
    }

    #[test]
    fn shorteners_are_known() {
        assert!(is_shortener("bit.ly") && is_shortener("t.co") && is_shortener("ow.ly"));
        assert!(!is_shortener("bbc.com") && !is_shortener("co"));
    }
}
