//! The ICE server options every command that makes peers takes.

use rtcpeer::{IceTransportPolicy, RTCConfiguration, RTCIceServer};

/// `--ice-server`, `--username`, `--credential`, `--relay-only`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct IceOptions {
    /// A STUN or TURN server URL (repeatable), e.g. `stun:192.0.2.1:3478` or
    /// `turn:192.0.2.1:3478?transport=tcp`.
    #[arg(long = "ice-server", value_name = "URL")]
    pub ice_servers: Vec<String>,
    /// The TURN username (for every `--ice-server`).
    #[arg(long)]
    pub username: Option<String>,
    /// The TURN credential (for every `--ice-server`).
    #[arg(long)]
    pub credential: Option<String>,
    /// Use relayed (TURN) candidates only: `iceTransportPolicy: "relay"`.
    #[arg(long)]
    pub relay_only: bool,
}

impl IceOptions {
    /// `config` with these servers and policy.
    pub fn apply(&self, config: RTCConfiguration) -> RTCConfiguration {
        let ice_servers = self
            .ice_servers
            .iter()
            .map(|url| RTCIceServer {
                urls: vec![url.clone()],
                username: self.username.clone(),
                credential: self.credential.clone(),
            })
            .collect();
        RTCConfiguration {
            ice_servers,
            ice_transport_policy: if self.relay_only {
                IceTransportPolicy::Relay
            } else {
                IceTransportPolicy::All
            },
            ..config
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_url_gets_the_credentials_and_relay_only_sets_the_policy() {
        let options = IceOptions {
            ice_servers: vec!["stun:127.0.0.1".into(), "turn:127.0.0.1?transport=tcp".into()],
            username: Some("u".into()),
            credential: Some("c".into()),
            relay_only: true,
        };
        let config = options.apply(RTCConfiguration::default());
        assert_eq!(config.ice_servers.len(), 2);
        assert_eq!(config.ice_servers[1].urls, ["turn:127.0.0.1?transport=tcp"]);
        assert_eq!(config.ice_servers[1].credential.as_deref(), Some("c"));
        assert_eq!(config.ice_transport_policy, IceTransportPolicy::Relay);
        let plain = IceOptions::default().apply(RTCConfiguration::default());
        assert!(plain.ice_servers.is_empty());
        assert_eq!(plain.ice_transport_policy, IceTransportPolicy::All);
    }
}
