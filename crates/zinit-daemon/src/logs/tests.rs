use super::*;
use std::time::Duration;

fn hub(max_lines: usize, max_bytes: usize) -> Arc<LogHub> {
    LogHub::new(RingLimits {
        max_lines,
        max_bytes,
    })
}

fn texts(lines: &[Arc<LogLine>]) -> Vec<&str> {
    lines.iter().map(|l| l.text.as_str()).collect()
}

fn all(hub: &LogHub) -> Vec<Arc<LogLine>> {
    hub.read(None, LogFrom::All).lines
}

fn of(hub: &LogHub, service: &str) -> Vec<Arc<LogLine>> {
    hub.read(Some(service), LogFrom::All).lines
}

fn seqs(lines: &[Arc<LogLine>]) -> Vec<u64> {
    lines.iter().map(|l| l.seq).collect()
}

/// The bytes one line of `len` bytes of text counts.
fn cost(len: usize) -> usize {
    len + LINE_OVERHEAD
}

fn push_n(hub: &LogHub, service: &str, n: usize) {
    for i in 0..n {
        hub.push(service, Stream::Stdout, format!("{service} {i}"));
    }
}

#[test]
fn ring_is_bounded_by_lines() {
    let hub = hub(3, usize::MAX);
    for i in 0..10 {
        hub.push("svc", Stream::Stdout, format!("line {i}"));
    }
    let kept = all(&hub);
    assert_eq!(texts(&kept), ["line 7", "line 8", "line 9"]);
    assert_eq!(seqs(&kept), [8, 9, 10]);
    let counters = hub.counters();
    assert_eq!(
        (
            counters.lines_total,
            counters.evicted_total,
            counters.kept_lines
        ),
        (10, 7, 3)
    );
    assert_eq!(counters.kept_bytes, 3 * cost(6));
}

#[test]
fn ring_is_bounded_by_bytes_counting_the_overhead() {
    let hub = hub(usize::MAX, 2 * cost(4) + 3);
    hub.push("svc", Stream::Stdout, "aaaa".into());
    hub.push("svc", Stream::Stdout, "bbbb".into());
    hub.push("svc", Stream::Stdout, "cccc".into());
    assert_eq!(texts(&all(&hub)), ["bbbb", "cccc"]);
    // A line bigger than the whole budget is not kept at all.
    hub.push("svc", Stream::Stdout, "x".repeat(2 * cost(4)));
    assert!(all(&hub).is_empty());
    hub.push("svc", Stream::Stdout, "dd".into());
    assert_eq!(texts(&all(&hub)), ["dd"]);
    // Empty lines cost their overhead: a flood of them stays bounded.
    for _ in 0..100 {
        hub.push("svc", Stream::Stdout, String::new());
    }
    assert_eq!(hub.counters().kept_lines, 2);
    assert_eq!(hub.counters().kept_bytes, 2 * cost(0));
}

#[test]
fn long_lines_are_cut_on_a_char_boundary() {
    let hub = hub(10, usize::MAX);
    let text = "é".repeat(MAX_LINE_BYTES); // two bytes each
    let line = hub.push("svc", Stream::Stderr, text);
    assert!(line.truncated);
    assert_eq!(line.text.len(), MAX_LINE_BYTES);
    assert!(line.text.capacity() <= MAX_LINE_BYTES + 16);
    // One byte over the limit, the cut falls before the split character.
    let line = hub.push(
        "svc",
        Stream::Stderr,
        format!("a{}", "é".repeat(MAX_LINE_BYTES / 2)),
    );
    assert_eq!(line.text.len(), MAX_LINE_BYTES - 1);
    let short = hub.push("svc", Stream::Stderr, "short".into());
    assert!(!short.truncated);
    assert_eq!(all(&hub).len(), 3);
}

#[test]
fn legacy_text_marks_the_stream_and_cut_lines() {
    let hub = hub(10, usize::MAX);
    let ready = hub.push("redis", Stream::Stdout, "ready".into());
    let oops = hub.push("redis", Stream::Stderr, "oops".into());
    let cut = hub.push_line("redis".into(), Stream::Stdout, "abc".into(), true);
    assert_eq!(ready.legacy_text(), "[+] redis: ready");
    assert_eq!(oops.legacy_text(), "[-] redis: oops");
    assert_eq!(cut.legacy_text(), "[+] redis: abc [cut]");
}

#[test]
fn seqs_are_consecutive_from_one_and_times_follow_them() {
    let hub = hub(100, usize::MAX);
    let before = SystemTime::now();
    for i in 0..30 {
        hub.push(["a", "b", "c"][i % 3], Stream::Stdout, format!("{i}"));
    }
    let after = SystemTime::now();
    let kept = all(&hub);
    assert_eq!(seqs(&kept), (1..=30).collect::<Vec<_>>());
    assert!(kept.windows(2).all(|w| w[0].time <= w[1].time));
    assert!(kept[0].time >= before && kept[29].time <= after);
    assert_eq!(hub.read(None, LogFrom::Now).next_seq, 31);
}

#[test]
fn zero_lines_keeps_nothing() {
    let hub = hub(0, usize::MAX);
    hub.push("svc", Stream::Stdout, "hello".into());
    assert!(all(&hub).is_empty());
    let counters = hub.counters();
    assert_eq!((counters.lines_total, counters.evicted_total), (1, 1));
    assert_eq!((counters.kept_lines, counters.kept_bytes), (0, 0));
}

// --- fair share -----------------------------------------------------------

#[test]
fn a_noisy_service_does_not_evict_a_quiet_ones_lines() {
    let hub = hub(100, usize::MAX);
    push_n(&hub, "quiet", 5);
    push_n(&hub, "noisy", 100_000);
    push_n(&hub, "quiet2", 3);
    push_n(&hub, "noisy", 100_000);
    let quiet = of(&hub, "quiet");
    assert_eq!(
        texts(&quiet),
        ["quiet 0", "quiet 1", "quiet 2", "quiet 3", "quiet 4"]
    );
    assert_eq!(of(&hub, "quiet2").len(), 3);
    let noisy = of(&hub, "noisy");
    assert_eq!(noisy.len(), 92);
    assert_eq!(noisy.last().unwrap().text, "noisy 99999");
    let counters = hub.counters();
    assert_eq!(counters.kept_lines, 100);
    let noisy_counters = &counters.per_service[1];
    assert_eq!(&*noisy_counters.service, "noisy");
    assert_eq!(noisy_counters.lines_total, 200_000);
    assert_eq!(noisy_counters.evicted_total, 200_000 - 92);
    assert_eq!(counters.per_service[0].evicted_total, 0);
}

#[test]
fn the_byte_bound_is_shared_fairly_too() {
    // Room for 100 small lines; the noisy service writes big ones.
    let bound = 100 * cost(10);
    let hub = hub(usize::MAX, bound);
    push_n(&hub, "quiet", 5); // "quiet N": 7 bytes
    for i in 0..10_000 {
        hub.push("noisy", Stream::Stdout, format!("{i:0>1000}"));
    }
    assert_eq!(of(&hub, "quiet").len(), 5);
    let counters = hub.counters();
    assert!(counters.kept_bytes <= bound);
    let noisy = of(&hub, "noisy");
    assert_eq!(noisy.len(), (bound - 5 * cost(7)) / cost(1000));
    assert_eq!(noisy.last().unwrap().text, format!("{:0>1000}", 9999));
}

#[test]
fn a_service_below_its_share_takes_from_the_biggest() {
    let hub = hub(10, usize::MAX);
    push_n(&hub, "a", 7);
    push_n(&hub, "b", 3);
    // c holds 1 of 10 over 3 services: below its share, so the biggest
    // (a) loses its oldest line.
    hub.push("c", Stream::Stdout, "c 0".into());
    assert_eq!(texts(&of(&hub, "a"))[0], "a 1");
    assert_eq!(of(&hub, "a").len(), 6);
    assert_eq!(of(&hub, "b").len(), 3);
    // b held 3 < 10/3: a loses again.
    hub.push("b", Stream::Stdout, "b 3".into());
    assert_eq!(texts(&of(&hub, "b")), ["b 0", "b 1", "b 2", "b 3"]);
    assert_eq!(of(&hub, "a").len(), 5);
    // b held 4 >= 10/3: at its share, it loses its own oldest.
    hub.push("b", Stream::Stdout, "b 4".into());
    assert_eq!(texts(&of(&hub, "b")), ["b 1", "b 2", "b 3", "b 4"]);
    assert_eq!(of(&hub, "a").len(), 5);
    // The byte bound picks by bytes: "big" holds few lines but most bytes.
    let hub = LogHub::new(RingLimits {
        max_lines: usize::MAX,
        max_bytes: 4 * cost(100) + 2 * cost(3),
    });
    for i in 0..4 {
        hub.push("big", Stream::Stdout, format!("{i:0>100}"));
    }
    push_n(&hub, "m", 2); // "m 0", "m 1"
    hub.push("s", Stream::Stdout, "s 0".into());
    assert_eq!(of(&hub, "big").len(), 3);
    assert_eq!(of(&hub, "m").len(), 2);
    assert_eq!(of(&hub, "s").len(), 1);
}

#[test]
fn below_share_services_never_lose_lines_to_others() {
    // Many services with different rates: whenever a push evicts another
    // service's line, that service held more than its fair share.
    let max_lines = 50;
    let hub = hub(max_lines, usize::MAX);
    let rates = [1usize, 2, 3, 5, 40];
    for round in 0..2000 {
        for (k, rate) in rates.iter().enumerate() {
            if round % rate != 0 {
                continue;
            }
            let pusher = format!("s{k}");
            let before = hub.counters();
            hub.push(&pusher, Stream::Stdout, format!("{round}"));
            let after = hub.counters();
            let holders = before
                .per_service
                .iter()
                .filter(|s| s.kept_lines > 0)
                .count()
                + usize::from(
                    before
                        .per_service
                        .iter()
                        .all(|s| *s.service != *pusher || s.kept_lines == 0),
                );
            for (b, a) in before.per_service.iter().zip(&after.per_service) {
                if *b.service != *pusher && a.kept_lines < b.kept_lines {
                    assert!(
                        b.kept_lines * holders > max_lines,
                        "{} lost a line holding {} of {max_lines} over {holders}",
                        b.service,
                        b.kept_lines
                    );
                }
            }
        }
    }
}

// --- reads ----------------------------------------------------------------

#[test]
fn read_selects_by_from() {
    let hub = hub(100, usize::MAX);
    for i in 0..10 {
        hub.push(
            if i % 2 == 0 { "a" } else { "b" },
            Stream::Stdout,
            format!("{i}"),
        );
    }
    let read = |service, from| seqs(&hub.read(service, from).lines);
    assert_eq!(read(None, LogFrom::All), (1..=10).collect::<Vec<_>>());
    assert_eq!(read(None, LogFrom::Now), Vec::<u64>::new());
    assert_eq!(read(None, LogFrom::Last(3)), [8, 9, 10]);
    assert_eq!(read(None, LogFrom::Last(0)), Vec::<u64>::new());
    assert_eq!(read(None, LogFrom::Last(50)).len(), 10);
    assert_eq!(read(Some("a"), LogFrom::Last(2)), [7, 9]);
    assert_eq!(read(Some("b"), LogFrom::All), [2, 4, 6, 8, 10]);
    assert_eq!(read(None, LogFrom::AfterSeq(7)), [8, 9, 10]);
    assert_eq!(read(Some("a"), LogFrom::AfterSeq(4)), [5, 7, 9]);
    assert_eq!(read(Some("nobody"), LogFrom::All), Vec::<u64>::new());
    let read_all = hub.read(None, LogFrom::All);
    assert_eq!((read_all.missed, read_all.next_seq), (None, 11));
    assert_eq!(hub.read(None, LogFrom::AfterSeq(7)).missed, Some(0));
    assert_eq!(hub.read(None, LogFrom::AfterSeq(99)).missed, Some(0));

    let t = read_all.lines[6].time;
    let since = hub.read(None, LogFrom::Since(t)).lines;
    assert!(since.iter().all(|l| l.time >= t));
    assert!(since.len() >= 4 && since.last().unwrap().seq == 10);
    assert!(hub
        .read(
            None,
            LogFrom::Since(SystemTime::now() + Duration::from_secs(60))
        )
        .lines
        .is_empty());
}

#[test]
fn read_after_seq_counts_what_was_missed() {
    let hub = hub(4, usize::MAX);
    hub.push("q", Stream::Stdout, "q0".into()); // seq 1
    push_n(&hub, "n", 10); // seqs 2..=11; n keeps 8..=11? (q holds 1 < 4/2)
    hub.push("q", Stream::Stdout, "q1".into()); // seq 12, evicts n's oldest
    assert_eq!(seqs(&all(&hub)), [1, 10, 11, 12]);
    // All view: exact.
    let read = hub.read(None, LogFrom::AfterSeq(0));
    assert_eq!(
        (seqs(&read.lines), read.missed),
        (vec![1, 10, 11, 12], Some(8))
    );
    let read = hub.read(None, LogFrom::AfterSeq(5));
    assert_eq!(
        (seqs(&read.lines), read.missed),
        (vec![10, 11, 12], Some(4))
    );
    assert_eq!(hub.read(None, LogFrom::AfterSeq(9)).missed, Some(0));
    // One service: exact when the evicted lines are all before or all
    // after the seq; unknown when they straddle it.
    assert_eq!(hub.read(Some("n"), LogFrom::AfterSeq(1)).missed, Some(8));
    assert_eq!(hub.read(Some("n"), LogFrom::AfterSeq(9)).missed, Some(0));
    assert_eq!(hub.read(Some("n"), LogFrom::AfterSeq(5)).missed, None);
    assert_eq!(hub.read(Some("q"), LogFrom::AfterSeq(0)).missed, Some(0));
    assert_eq!(
        hub.read(Some("nobody"), LogFrom::AfterSeq(0)).missed,
        Some(0)
    );
    assert_eq!(
        seqs(&hub.read(Some("n"), LogFrom::AfterSeq(5)).lines),
        [10, 11]
    );
}

// --- followers ------------------------------------------------------------

async fn next(follower: &mut Follower, max: usize) -> Vec<FollowItem> {
    tokio::time::timeout(Duration::from_secs(20), follower.next_batch(max))
        .await
        .expect("no log item within 20 s")
}

fn line_seqs(items: &[FollowItem]) -> Vec<u64> {
    items
        .iter()
        .filter_map(|i| match i {
            FollowItem::Line(l) => Some(l.seq),
            FollowItem::Gap { .. } => None,
        })
        .collect()
}

#[tokio::test]
async fn a_follower_sees_the_backlog_then_new_lines() {
    let hub = hub(100, usize::MAX);
    push_n(&hub, "a", 3);
    let mut follower = hub.follow(None, LogFrom::All);
    assert_eq!(line_seqs(&next(&mut follower, 100).await), [1, 2, 3]);
    push_n(&hub, "b", 2);
    assert_eq!(line_seqs(&next(&mut follower, 100).await), [4, 5]);
    assert!(follower.try_next_batch(10).is_empty());

    let mut last = hub.follow(None, LogFrom::Last(2));
    assert_eq!(line_seqs(&next(&mut last, 100).await), [4, 5]);
    let mut now = hub.follow(Some("a".into()), LogFrom::Now);
    assert!(now.try_next_batch(10).is_empty());
    push_n(&hub, "b", 1);
    push_n(&hub, "a", 1);
    assert_eq!(line_seqs(&next(&mut now, 100).await), [7]);
    // Batches respect `max`.
    let mut small = hub.follow(None, LogFrom::All);
    assert_eq!(line_seqs(&next(&mut small, 4).await), [1, 2, 3, 4]);
    assert_eq!(line_seqs(&next(&mut small, 4).await), [5, 6, 7]);
}

#[tokio::test]
async fn a_follower_wakes_on_push() {
    let hub = hub(100, usize::MAX);
    let mut follower = hub.follow(Some("svc".into()), LogFrom::Now);
    let waiter = tokio::spawn(async move { next(&mut follower, 10).await });
    // Wait until it is waiting, then push.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while hub.waiters.load(Ordering::SeqCst) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "follower never waited"
        );
        tokio::task::yield_now().await;
    }
    hub.push("other", Stream::Stdout, "not mine".into());
    hub.push("svc", Stream::Stdout, "mine".into());
    let items = waiter.await.unwrap();
    assert_eq!(line_seqs(&items), [2]);
    assert_eq!(hub.waiters.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_cancelled_wait_loses_nothing() {
    let hub = hub(100, usize::MAX);
    let mut follower = hub.follow(None, LogFrom::Now);
    let timed_out = tokio::time::timeout(Duration::from_millis(10), follower.next_batch(10)).await;
    assert!(timed_out.is_err());
    assert_eq!(hub.waiters.load(Ordering::SeqCst), 0);
    push_n(&hub, "svc", 2);
    assert_eq!(line_seqs(&next(&mut follower, 10).await), [1, 2]);
}

#[tokio::test]
async fn a_slow_follower_is_told_exactly_what_it_missed() {
    let hub = hub(5, usize::MAX);
    let mut all_view = hub.follow(None, LogFrom::Now);
    let mut one = hub.follow(Some("a".into()), LogFrom::Now);
    push_n(&hub, "a", 20);
    let items = next(&mut all_view, 100).await;
    assert_eq!(items[0], FollowItem::Gap { missed: Some(15) });
    assert_eq!(line_seqs(&items), [16, 17, 18, 19, 20]);
    assert_eq!(
        next(&mut one, 100).await[0],
        FollowItem::Gap { missed: Some(15) }
    );
    // Lines of other services are no gap of a one-service view.
    push_n(&hub, "b", 20);
    push_n(&hub, "a", 2);
    let items = next(&mut one, 100).await;
    assert_eq!(line_seqs(&items), [41, 42]);
    assert_eq!(items.len(), 2);
    // Everything dropped, nothing left to read: the gap alone.
    push_n(&hub, "b", 30);
    let items = next(&mut all_view, 100).await;
    // a kept its newest two (below its share), b its newest three.
    assert_eq!(line_seqs(&items), [41, 42, 70, 71, 72]);
    assert_eq!(items[2], FollowItem::Gap { missed: Some(47) });
    assert_eq!(hub.counters().follower_missed_total, 15 + 15 + 47);
}

#[tokio::test]
async fn gaps_in_the_all_view_are_exact_when_services_interleave() {
    let hub = hub(4, usize::MAX);
    let mut follower = hub.follow(None, LogFrom::Now);
    hub.push("q", Stream::Stdout, "q0".into()); // 1
    push_n(&hub, "n", 10); // 2..=11, n keeps 9..=11
    hub.push("q", Stream::Stdout, "q1".into()); // 12, n keeps 10, 11
    let items = next(&mut follower, 100).await;
    assert_eq!(
        items,
        [
            FollowItem::Line(all(&hub)[0].clone()),
            FollowItem::Gap { missed: Some(8) },
            FollowItem::Line(all(&hub)[1].clone()),
            FollowItem::Line(all(&hub)[2].clone()),
            FollowItem::Line(all(&hub)[3].clone()),
        ]
    );
    // A follower from All does not count lines dropped before it started.
    let mut from_all = hub.follow(None, LogFrom::All);
    let items = next(&mut from_all, 100).await;
    assert_eq!(line_seqs(&items), [1, 10, 11, 12]);
    assert_eq!(items.len(), 4);
}

#[tokio::test]
async fn a_follower_resumes_after_a_seq() {
    let hub = hub(4, usize::MAX);
    push_n(&hub, "a", 10); // keeps 7..=10
    let mut follower = hub.follow(None, LogFrom::AfterSeq(2));
    let items = next(&mut follower, 100).await;
    assert_eq!(items[0], FollowItem::Gap { missed: Some(4) });
    assert_eq!(line_seqs(&items), [7, 8, 9, 10]);
    let mut caught_up = hub.follow(Some("a".into()), LogFrom::AfterSeq(8));
    assert_eq!(line_seqs(&next(&mut caught_up, 100).await), [9, 10]);
    push_n(&hub, "b", 4); // a's lines go: a holds >= its share
    push_n(&hub, "a", 1);
    let mut unknown = hub.follow(Some("a".into()), LogFrom::AfterSeq(8));
    let items = next(&mut unknown, 100).await;
    assert_eq!(items[0], FollowItem::Gap { missed: None });
}

#[tokio::test]
async fn a_batch_of_one_still_reports_gaps_and_lines() {
    let hub = hub(2, usize::MAX);
    let mut follower = hub.follow(None, LogFrom::Now);
    push_n(&hub, "a", 5);
    assert_eq!(
        next(&mut follower, 1).await,
        [FollowItem::Gap { missed: Some(3) }]
    );
    assert_eq!(line_seqs(&next(&mut follower, 0).await), [4]);
    assert_eq!(line_seqs(&next(&mut follower, 1).await), [5]);
}

/// Follow `view` while a thread pushes `total` lines over three services;
/// every line pushed is either seen once, in order, or counted in a gap.
async fn follow_a_concurrent_pusher(view: Option<&str>) {
    let hub = hub(64, usize::MAX);
    let total: u64 = 200_000;
    let mut follower = hub.follow(view.map(Into::into), LogFrom::Now);
    let pusher = {
        let hub = Arc::clone(&hub);
        std::thread::spawn(move || {
            for i in 0..total {
                let service = ["a", "b", "c"][(i % 7 % 3) as usize];
                hub.push(service, Stream::Stdout, i.to_string());
            }
        })
    };
    let expected: u64 = match view {
        None => total,
        Some(name) => (0..total)
            .filter(|i| ["a", "b", "c"][(i % 7 % 3) as usize] == name)
            .count() as u64,
    };
    let (mut seen, mut missed, mut last) = (0u64, 0u64, 0u64);
    while seen + missed < expected {
        for item in next(&mut follower, 100).await {
            match item {
                FollowItem::Line(line) => {
                    assert!(line.seq > last, "out of order or repeated");
                    assert!(view.is_none_or(|v| *line.service == *v));
                    last = line.seq;
                    seen += 1;
                }
                FollowItem::Gap { missed: n } => missed += n.unwrap(),
            }
        }
    }
    pusher.join().unwrap();
    assert_eq!(seen + missed, expected);
    assert!(follower.try_next_batch(100).is_empty());
    assert_eq!(hub.counters().follower_missed_total, missed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_all_view_follows_a_concurrent_pusher_exactly() {
    follow_a_concurrent_pusher(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_view_follows_a_concurrent_pusher_exactly() {
    follow_a_concurrent_pusher(Some("b")).await;
}
