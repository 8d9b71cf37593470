//! Writes the offer and answer of a real two-peer negotiation (one data
//! channel) as `sdp_remote` seeds: `offer.sdp` as is (offer mode) and
//! `answer.bin` prefixed with 0x01 (answer mode).
//!
//! `cargo run --example sdp_seeds -- seeds/sdp_remote`

use std::path::PathBuf;
use std::time::Instant;

use rtcpeer_fuzz::sim::{certificates, new_peer};
use rtcpeer_proto::datachannel::DataChannelInit;

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "seeds/sdp_remote".into()));
    std::fs::create_dir_all(&dir)?;
    let now = Instant::now();
    let (ca, cb) = certificates();
    let mut a = new_peer(ca, now);
    let mut b = new_peer(cb, now);
    a.add_local_address("127.0.0.1:10000".parse().expect("address"));
    b.add_local_address("127.0.0.2:20000".parse().expect("address"));
    a.create_data_channel("fuzz", DataChannelInit::default())
        .expect("channel");
    a.set_local_description(now, None).expect("a: offer");
    let offer = a.local_description().expect("a: local description");
    b.set_remote_description(now, offer.clone()).expect("b: remote offer");
    b.set_local_description(now, None).expect("b: answer");
    let answer = b.local_description().expect("b: local description");
    std::fs::write(dir.join("offer.sdp"), &offer.sdp)?;
    let mut bytes = vec![1u8];
    bytes.extend_from_slice(answer.sdp.as_bytes());
    std::fs::write(dir.join("answer.bin"), bytes)?;
    Ok(())
}
