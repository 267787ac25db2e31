use super::*;

fn advert() -> Advert {
    Advert {
        service_type: "_sensors._tcp.local.".into(),
        instance: "thermo-1234abcd._sensors._tcp.local.".into(),
        host: "thermo-1234abcd.local.".into(),
        port: 50_151,
        txt: vec![
            (
                "caller_id".into(),
                "00000000-0000-4000-8000-00000000beef".into(),
            ),
            ("name".into(), "thermo".into()),
        ],
    }
}

#[test]
fn an_answer_decodes_into_an_added_instance() {
    let message = decode(&advert().encode(TTL)).expect("decodes");
    assert!(message.response);
    assert_eq!(message.records.len(), 4);
    let mut state = BrowseState {
        service_type: "_sensors._tcp.local.".into(),
        ..BrowseState::default()
    };
    let events = state.absorb(&message, Instant::now());
    let [DiscoveryEvent::Added(info)] = events.as_slice() else {
        panic!("expected one Added, got {events:?}");
    };
    assert_eq!(info.port, 50_151);
    assert_eq!(info.name, "thermo");
    assert_eq!(info.addresses, vec![IpAddr::from(Ipv4Addr::LOCALHOST)]);
    assert_eq!(
        info.caller_id.map(|c| c.to_string()).as_deref(),
        Some("00000000-0000-4000-8000-00000000beef")
    );
    // Repeated: nothing; port changed: Updated; goodbye: Removed.
    assert!(state.absorb(&message, Instant::now()).is_empty());
    let mut moved = advert();
    moved.port = 50_152;
    let events = state.absorb(
        &decode(&moved.encode(TTL)).expect("decodes"),
        Instant::now(),
    );
    assert!(matches!(events.as_slice(), [DiscoveryEvent::Updated(i)] if i.port == 50_152));
    let events = state.absorb(&decode(&moved.encode(0)).expect("decodes"), Instant::now());
    assert!(matches!(
        events.as_slice(),
        [DiscoveryEvent::Removed { .. }]
    ));
    assert!(state.instances.is_empty());
}

#[test]
fn records_expire_after_their_ttl() {
    let mut state = BrowseState {
        service_type: "_sensors._tcp.local.".into(),
        ..BrowseState::default()
    };
    let now = Instant::now();
    let message = decode(&advert().encode(TTL)).expect("decodes");
    assert_eq!(state.absorb(&message, now).len(), 1);
    assert!(state.expire(now + Duration::from_secs(60)).is_empty());
    let gone = state.expire(now + Duration::from_secs(u64::from(TTL) + 1));
    assert!(matches!(gone.as_slice(), [DiscoveryEvent::Removed { .. }]));
}

#[test]
fn queries_are_answered_only_for_our_names() {
    let ours = decode(&encode_query("_sensors._tcp.local.")).expect("decodes");
    assert!(!ours.response);
    assert!(advert().answers(&ours));
    let other = decode(&encode_query("_other._tcp.local.")).expect("decodes");
    assert!(!advert().answers(&other));
}

#[test]
fn compressed_names_decode_and_pointer_loops_are_rejected() {
    // Header: a response with one PTR answer whose rdata points back to
    // the owner name (offset 12).
    let mut packet = header(0x8400, 0, 1);
    put_name(&mut packet, "_s._tcp.local.");
    packet.extend_from_slice(&TYPE_PTR.to_be_bytes());
    packet.extend_from_slice(&CLASS_IN.to_be_bytes());
    packet.extend_from_slice(&TTL.to_be_bytes());
    packet.extend_from_slice(&4u16.to_be_bytes());
    packet.extend_from_slice(&[1, b'x', 0xC0, 12]);
    let message = decode(&packet).expect("decodes");
    assert_eq!(
        message.records[0].data,
        Rdata::Ptr("x._s._tcp.local.".into())
    );
    // A pointer to itself.
    let mut looped = header(0x8400, 1, 0);
    looped.extend_from_slice(&[0xC0, 12, 0, 12, 0, 1]);
    assert_eq!(decode(&looped), None);
}

#[test]
fn a_flood_of_announcements_is_bounded_and_ttls_are_capped() {
    let mut state = BrowseState {
        service_type: "_sensors._tcp.local.".into(),
        ..BrowseState::default()
    };
    let now = Instant::now();
    let mut added = 0;
    for i in 0..3 * MAX_INSTANCES {
        let mut flood = advert();
        flood.instance = format!("flood-{i}._sensors._tcp.local.");
        // A TTL of 136 years.
        let message = decode(&flood.encode(u32::MAX)).expect("decodes");
        added += state
            .absorb(&message, now)
            .iter()
            .filter(|e| matches!(e, DiscoveryEvent::Added(_)))
            .count();
    }
    assert_eq!(state.instances.len(), MAX_INSTANCES);
    assert_eq!(added, MAX_INSTANCES);
    assert_eq!(state.ignored, 2 * MAX_INSTANCES as u64);
    // Every record expires within the capped TTL.
    let gone = state.expire(now + Duration::from_secs(u64::from(MAX_TTL)));
    assert_eq!(gone.len(), MAX_INSTANCES);
    assert!(state.instances.is_empty());
}

#[test]
fn malformed_datagrams_are_rejected_not_panicked_on() {
    let good = advert().encode(TTL);
    for cut in 0..good.len() {
        let _ = decode(&good[..cut]); // must not panic
    }
    assert_eq!(decode(&good[..good.len() - 1]), None);
    let mut bad_label = header(0, 1, 0);
    bad_label.extend_from_slice(&[0x80, 0, 0, 12, 0, 1]);
    assert_eq!(decode(&bad_label), None);
    let mut huge = header(0x8400, 0, u16::MAX);
    huge.extend_from_slice(&[0; 16]);
    assert_eq!(decode(&huge), None);
}
