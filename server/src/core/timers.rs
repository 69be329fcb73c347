//! Default timers of common load balancers, NAT devices, proxies, runtimes
//! and the kernel. A connection that ends after an exact, repeatable time was
//! almost always ended by one of these, so naming the candidates saves the
//! engineer a search through vendor documentation at 3 AM.

use serde::Serialize;

/// One known default timer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Timer {
    /// What sets it, e.g. "AWS ALB idle timeout".
    pub name: &'static str,
    /// Default value in seconds.
    pub seconds: f64,
    /// Where the default is documented (setting or document name).
    pub source: &'static str,
}

const fn t(name: &'static str, seconds: f64, source: &'static str) -> Timer {
    Timer {
        name,
        seconds,
        source,
    }
}

/// The catalogue, shortest first.
pub const TIMERS: &[Timer] = &[
    t(
        "Node.js http server keepAliveTimeout",
        5.0,
        "Node.js docs: server.keepAliveTimeout (default 5000 ms)",
    ),
    t(
        "Apache httpd KeepAliveTimeout",
        5.0,
        "Apache httpd core docs: KeepAliveTimeout (default 5 s)",
    ),
    t(
        "Linux conntrack UDP timeout",
        30.0,
        "sysctl net.netfilter.nf_conntrack_udp_timeout (default 30)",
    ),
    t(
        "HAProxy timeout client/server (common example config)",
        50.0,
        "HAProxy shipped example configs: timeout client 50s / timeout server 50s (no built-in default)",
    ),
    t(
        "AWS ALB idle timeout",
        60.0,
        "AWS Elastic Load Balancing docs: idle_timeout.timeout_seconds (default 60)",
    ),
    t(
        "nginx upstream keepalive_timeout",
        60.0,
        "nginx ngx_http_upstream_module: keepalive_timeout (default 60s)",
    ),
    t(
        "nginx proxy_read_timeout",
        60.0,
        "nginx ngx_http_proxy_module: proxy_read_timeout (default 60s)",
    ),
    t(
        "nginx keepalive_timeout (client side)",
        75.0,
        "nginx ngx_http_core_module: keepalive_timeout (default 75s)",
    ),
    t(
        "Go net/http Transport IdleConnTimeout",
        90.0,
        "Go net/http DefaultTransport: IdleConnTimeout 90 s",
    ),
    t(
        "Linux conntrack TCP TIME_WAIT timeout",
        120.0,
        "sysctl net.netfilter.nf_conntrack_tcp_timeout_time_wait (default 120)",
    ),
    t(
        "Linux conntrack UDP stream timeout",
        120.0,
        "sysctl net.netfilter.nf_conntrack_udp_timeout_stream (default 120)",
    ),
    t(
        "Azure Load Balancer idle timeout",
        240.0,
        "Azure Load Balancer docs: TCP idle timeout (default 4 minutes)",
    ),
    t(
        "Azure NAT Gateway idle timeout",
        240.0,
        "Azure NAT Gateway docs: TCP idle timeout (default 4 minutes)",
    ),
    t(
        "AWS NLB idle timeout",
        350.0,
        "AWS Network Load Balancer docs: TCP idle timeout (default 350 s)",
    ),
    t(
        "AWS NAT Gateway idle timeout",
        350.0,
        "AWS VPC NAT gateway docs: idle connection timeout (350 s)",
    ),
    t(
        "GCP external/internal passthrough LB idle (conntrack) timeout",
        600.0,
        "Google Cloud load balancing docs: TCP connection tracking idle timeout (600 s)",
    ),
    t(
        "GCP Cloud NAT established TCP idle timeout",
        1200.0,
        "Google Cloud NAT docs: tcpEstablishedIdleTimeoutSec (default 1200)",
    ),
    t(
        "Envoy idle_timeout (HTTP connection manager)",
        3600.0,
        "Envoy docs: common_http_protocol_options.idle_timeout (default 1 h)",
    ),
    t(
        "Linux TCP keepalive first probe",
        7200.0,
        "sysctl net.ipv4.tcp_keepalive_time (default 7200)",
    ),
    t(
        "Linux conntrack TCP established timeout",
        432000.0,
        "sysctl net.netfilter.nf_conntrack_tcp_timeout_established (default 432000 = 5 days)",
    ),
];

/// How far an observed ending may be from a timer and still name it:
/// 2 % of the timer, at least one second (probe scheduling, RTT).
pub fn tolerance_s(timer_s: f64) -> f64 {
    (timer_s * 0.02).max(1.0)
}

/// Timers whose default lies within tolerance of `seconds`, closest first.
pub fn matching(seconds: f64) -> Vec<&'static Timer> {
    let mut hits: Vec<&Timer> = TIMERS
        .iter()
        .filter(|t| (t.seconds - seconds).abs() <= tolerance_s(t.seconds))
        .collect();
    hits.sort_by(|a, b| {
        (a.seconds - seconds)
            .abs()
            .total_cmp(&(b.seconds - seconds).abs())
    });
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixty_seconds_names_the_alb_and_nginx_upstream() {
        let names: Vec<_> = matching(60.02).iter().map(|t| t.name).collect();
        assert!(names.contains(&"AWS ALB idle timeout"), "{names:?}");
        assert!(names.contains(&"nginx upstream keepalive_timeout"));
        assert!(!names.iter().any(|n| n.contains("NLB")));
    }

    #[test]
    fn three_fifty_names_nlb_and_nat_gateway_but_not_odd_times() {
        let names: Vec<_> = matching(349.0).iter().map(|t| t.name).collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(matching(47.0).is_empty());
        assert!(
            matching(62.0).is_empty(),
            "2 s off a 60 s timer is no match"
        );
    }

    #[test]
    fn every_timer_has_a_source_and_the_list_is_sorted() {
        assert!(
            TIMERS
                .iter()
                .all(|t| !t.source.is_empty() && t.seconds > 0.0)
        );
        assert!(TIMERS.windows(2).all(|w| w[0].seconds <= w[1].seconds));
    }
}
