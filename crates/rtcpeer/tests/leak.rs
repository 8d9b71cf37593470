//! The leak test of issue 6 item 6: many create → connect (channel open, one message) → close
//! cycles over loopback, several at once, with flat memory and every socket and task returned.
//!
//! `RTCPEER_LEAK_CYCLES` sets the number of cycles, `RTCPEER_LEAK_PARALLEL` how many run at once
//! (default 16). The default, 2,000 cycles, takes about 35 s in a debug build on the project's
//! 2-core machine; the full 10,000 (`RTCPEER_LEAK_CYCLES=10000`, about 3 minutes) is run by hand
//! and its numbers are in `docs/CONFORMANCE.md`. The numbers of a run are printed: run
//! with `--nocapture`.

mod conformance_common;

use std::time::Instant;

use conformance_common::*;
use rtcpeer::Certificate;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One cycle: two connections, a channel opened, one message, both closed (the answerer by
/// dropping every handle, the offerer by `close()`, so both paths are exercised).
async fn cycle(n: usize, certificates: (Certificate, Certificate)) -> Result<(), String> {
    let mut pair = connect(Some(certificates))
        .await
        .map_err(|e| format!("cycle {n}: {e}"))?;
    one_message(&mut pair, &format!("cycle {n}"))
        .await
        .map_err(|e| format!("cycle {n}: {e}"))?;
    pair.offerer.close().await;
    drop(pair);
    Ok(())
}

#[test]
fn create_connect_close_cycles_leak_no_memory_sockets_or_tasks() {
    let cycles = env_or("RTCPEER_LEAK_CYCLES", 2_000).max(20);
    let parallel = env_or("RTCPEER_LEAK_PARALLEL", 16).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        // A certificate per side, reused (a reused certificate keeps its fingerprint): the test
        // measures the connections, not key generation.
        let certificates = (
            Certificate::generate().expect("certificate"),
            Certificate::generate().expect("certificate"),
        );
        let fds = open_fds();
        let tasks = alive_tasks();
        // The allocator's pools grow over the first couple of hundred cycles, then stay flat.
        let warm_up = (cycles / 10).max(200).min(cycles / 2);
        let started = Instant::now();
        let mut rss_after_warm_up = 0;
        let mut peak_rss = 0;
        let mut done = 0;
        while done < cycles {
            let batch = parallel.min(cycles - done);
            let mut set = tokio::task::JoinSet::new();
            for i in 0..batch {
                set.spawn(cycle(done + i, certificates.clone()));
            }
            while let Some(result) = set.join_next().await {
                result.expect("cycle task").expect("cycle");
            }
            let before = done;
            done += batch;
            let rss = rss_kib();
            peak_rss = peak_rss.max(rss);
            if before < warm_up && done >= warm_up {
                rss_after_warm_up = rss;
            }
            if done % (cycles / 10).max(1) < batch {
                println!(
                    "{done:>6} cycles  {:>6.1} s  rss {rss} KiB  fds {}  tasks {}",
                    started.elapsed().as_secs_f64(),
                    open_fds(),
                    alive_tasks()
                );
            }
        }
        let returned = eventually(|| open_fds() == fds && alive_tasks() == tasks).await;
        let final_rss = rss_kib();
        let elapsed = started.elapsed();
        println!(
            "{cycles} cycles ({parallel} at once) in {:.1} s ({:.2} ms a cycle); rss after warm-up {rss_after_warm_up} KiB, \
             at the end {final_rss} KiB, peak {peak_rss} KiB; fds {} (baseline {fds}); tasks {} (baseline {tasks})",
            elapsed.as_secs_f64(),
            elapsed.as_secs_f64() * 1000.0 / cycles as f64,
            open_fds(),
            alive_tasks()
        );
        assert!(returned, "sockets or tasks were not returned");
        assert!(
            final_rss as f64 <= rss_after_warm_up as f64 * 1.10,
            "memory grew: {rss_after_warm_up} KiB after warm-up, {final_rss} KiB at the end"
        );
    });
}
