use super::*;

fn pair(id: &str, local: &str, remote: &str) -> Stats {
    Stats {
        id: id.into(),
        timestamp: 1_700_000_000_000.5,
        kind: StatsKind::CandidatePair(CandidatePairStats {
            transport_id: "T01".into(),
            local_candidate_id: local.into(),
            remote_candidate_id: remote.into(),
            state: StatsCandidatePairState::InProgress,
            nominated: false,
            packets_sent: 3,
            packets_received: 4,
            bytes_sent: 300,
            bytes_received: 400,
            last_packet_received_timestamp: None,
            total_round_trip_time: 0.25,
            current_round_trip_time: Some(0.125),
            requests_received: 1,
            requests_sent: 2,
            responses_received: 2,
            responses_sent: 1,
            consent_requests_sent: 0,
            available_outgoing_bitrate: Some(850_000.0),
        }),
    }
}

fn candidate(id: &str, kind: StatsCandidateType) -> Stats {
    Stats {
        id: id.into(),
        timestamp: 1.0,
        kind: StatsKind::LocalCandidate(IceCandidateStats {
            transport_id: "T01".into(),
            address: Some("127.0.0.1".into()),
            port: 5000,
            protocol: "udp".into(),
            candidate_type: kind,
            priority: 2_130_706_431,
            foundation: "1".into(),
            related_address: None,
            related_port: None,
            username_fragment: None,
            relay_protocol: None,
        }),
    }
}

#[test]
fn json_is_an_object_keyed_by_id_with_camel_case_members_and_no_unknown_ones() {
    let mut report = StatsReport::new();
    report.insert(pair("CP0_0", "IL0", "IR0"));
    report.insert(candidate("IL0", StatsCandidateType::Srflx));
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    let object = json.as_object().unwrap();
    assert_eq!(object.len(), 2);
    let p = &object["CP0_0"];
    assert_eq!(p["id"], "CP0_0");
    assert_eq!(p["type"], "candidate-pair");
    assert_eq!(p["timestamp"], 1_700_000_000_000.5);
    assert_eq!(p["state"], "in-progress");
    assert_eq!(p["localCandidateId"], "IL0");
    assert_eq!(p["currentRoundTripTime"], 0.125);
    assert_eq!(p["consentRequestsSent"], 0);
    // An unknown value is absent, not null.
    assert!(p.get("lastPacketReceivedTimestamp").is_none());
    let c = &object["IL0"];
    assert_eq!(c["type"], "local-candidate");
    assert_eq!(c["candidateType"], "srflx");
    assert!(c.get("relatedAddress").is_none());
    assert!(c.get("usernameFragment").is_none());
}

#[test]
fn json_reads_back_into_the_same_typed_report() {
    let mut report = StatsReport::new();
    report.insert(pair("CP0_1", "IL0", "IR1"));
    report.insert(candidate("IL0", StatsCandidateType::Host));
    let back = StatsReport::from_json(&report.to_json()).unwrap();
    assert_eq!(back, report);
    let p = back.get("CP0_1").unwrap();
    let StatsKind::CandidatePair(p) = &p.kind else {
        panic!("not a pair: {p:?}")
    };
    assert_eq!(p.bytes_received, 400);
    // A wrong type name is an error, not a panic.
    assert!(StatsReport::from_json(r#"{"x":{"id":"x","timestamp":1,"type":"no-such-type"}}"#).is_err());
    assert!(StatsReport::from_json("[1,2]").is_err());
}

#[test]
fn select_follows_references_and_dangling_ones_are_found() {
    let mut report = StatsReport::new();
    report.insert(pair("CP0_0", "IL0", "IR0"));
    report.insert(pair("CP1_0", "IL1", "IR0"));
    report.insert(candidate("IL0", StatsCandidateType::Host));
    report.insert(candidate("IL1", StatsCandidateType::Host));
    let mut dangling = report.dangling_references();
    dangling.sort();
    dangling.dedup();
    assert_eq!(dangling, ["IR0", "T01"]);

    let selected = report.select(["CP0_0".to_string()]);
    let ids: Vec<&str> = selected.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["CP0_0", "IL0"]);
    assert_eq!(selected.of_type(StatsType::LocalCandidate).count(), 1);
    assert!(report.select(["nothing".to_string()]).is_empty());
}

#[test]
fn type_names_match_the_serialized_type() {
    let s = candidate("IL0", StatsCandidateType::Relay);
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(v["type"], s.kind.stats_type().as_str());
}
