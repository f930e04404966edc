//! The guard's promises, checked at given instants: parallel attempts
//! count before they finish, the owner's address is never locked by
//! someone else's guesses, locks double and are forgotten, and any
//! interleaving checks at most the documented number of passwords.

use super::*;
use proptest::prelude::*;

fn limits() -> GuardLimits {
    GuardLimits {
        per_account: 3,
        per_ip: 5,
        window: Duration::from_secs(60),
        lockout: Duration::from_secs(10),
        max_lockout: Duration::from_secs(25),
        ipv6_prefix: 64,
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

const ALICE: Target<'static> = Target::Account("alice");

#[test]
fn parallel_attempts_take_slots_before_any_is_checked() {
    let (mut g, l, t0) = (Guard::default(), limits(), Instant::now());
    let me = ip("10.0.0.1");
    let held: Vec<Attempt> = (0..3)
        .map(|_| g.begin(me, ALICE, t0, &l).expect("a free slot"))
        .collect();
    // Nothing has failed yet, but the three slots are taken: the next
    // guess waits as long as the lock their failure would start.
    assert_eq!(g.begin(me, ALICE, t0, &l), Err(10));
    let mut locked = false;
    for a in held {
        locked |= g.finish(a, false, t0, &l);
    }
    assert!(locked);
    assert_eq!(g.begin(me, Target::Account("ALICE"), t0, &l), Err(10));
    let t1 = t0 + Duration::from_secs(4);
    assert_eq!(g.begin(me, ALICE, t1, &l), Err(6), "the wait counts down");
}

#[test]
fn the_owner_elsewhere_is_never_locked_out() {
    let (mut g, l, t0) = (Guard::default(), limits(), Instant::now());
    let attacker = ip("10.0.0.66");
    for _ in 0..3 {
        let a = g.begin(attacker, ALICE, t0, &l).expect("slot");
        g.finish(a, false, t0, &l);
    }
    assert!(g.begin(attacker, ALICE, t0, &l).is_err());
    let owner = g.begin(ip("10.0.0.1"), ALICE, t0, &l).expect("owner");
    assert!(!g.finish(owner, true, t0, &l));
    // The attacker's address may still try other accounts, up to its own
    // limit (two failures left of five).
    let bob = g
        .begin(attacker, Target::Account("bob"), t0, &l)
        .expect("bob");
    g.finish(bob, false, t0, &l);
    assert_eq!(g.address_locked(attacker, t0, &l), None);
    let carol = g
        .begin(attacker, Target::Account("carol"), t0, &l)
        .expect("carol");
    assert!(
        g.finish(carol, false, t0, &l),
        "the fifth failure locks the address"
    );
    assert_eq!(g.address_locked(attacker, t0, &l), Some(10));
    assert!(g.begin(attacker, Target::Account("dave"), t0, &l).is_err());
    assert!(
        g.begin(ip("10.0.0.1"), Target::Account("dave"), t0, &l)
            .is_ok()
    );
}

#[test]
fn a_success_clears_the_pair_but_not_the_address() {
    let (mut g, l, t0) = (Guard::default(), limits(), Instant::now());
    let me = ip("10.0.0.1");
    for _ in 0..2 {
        let a = g.begin(me, ALICE, t0, &l).expect("slot");
        g.finish(a, false, t0, &l);
    }
    let a = g.begin(me, ALICE, t0, &l).expect("slot");
    g.finish(a, true, t0, &l);
    // The pair starts again from zero; the address has two failures.
    for _ in 0..2 {
        let a = g.begin(me, ALICE, t0, &l).expect("slot");
        g.finish(a, false, t0, &l);
    }
    let a = g.begin(me, ALICE, t0, &l).expect("slot");
    assert!(
        g.finish(a, false, t0, &l),
        "2 + 3 failures lock the address"
    );
}

#[test]
fn locks_double_up_to_the_ceiling_and_are_forgotten() {
    let l = GuardLimits {
        per_ip: 100,
        ..limits()
    };
    let (mut g, t0) = (Guard::default(), Instant::now());
    let me = ip("10.0.0.1");
    let fail3 = |g: &mut Guard, t: Instant| {
        for _ in 0..3 {
            let a = g.begin(me, ALICE, t, &l).expect("slot");
            g.finish(a, false, t, &l);
        }
    };
    fail3(&mut g, t0);
    assert_eq!(g.begin(me, ALICE, t0, &l), Err(10));
    let t1 = t0 + Duration::from_secs(11);
    fail3(&mut g, t1);
    assert_eq!(g.begin(me, ALICE, t1, &l), Err(20));
    let t2 = t1 + Duration::from_secs(21);
    fail3(&mut g, t2);
    assert_eq!(g.begin(me, ALICE, t2, &l), Err(25), "at the ceiling");
    // Quiet for longer than the longest lock plus a window: a fresh start.
    let t3 = t2 + Duration::from_secs(25 + 60 + 1);
    fail3(&mut g, t3);
    assert_eq!(g.begin(me, ALICE, t3, &l), Err(10));
}

#[test]
fn ipv6_addresses_of_one_prefix_share_their_limits() {
    let (mut g, l, t0) = (Guard::default(), limits(), Instant::now());
    for i in 0..3 {
        let from = ip(&format!("2001:db8:0:1::{i:x}"));
        let a = g.begin(from, ALICE, t0, &l).expect("slot");
        g.finish(a, false, t0, &l);
    }
    assert!(g.begin(ip("2001:db8:0:1:ffff::9"), ALICE, t0, &l).is_err());
    assert!(g.begin(ip("2001:db8:0:2::1"), ALICE, t0, &l).is_ok());
}

#[test]
fn operators_and_accounts_are_counted_apart() {
    let (mut g, l, t0) = (Guard::default(), limits(), Instant::now());
    let me = ip("10.0.0.1");
    for _ in 0..3 {
        let a = g.begin(me, Target::Oper("alice"), t0, &l).expect("slot");
        g.finish(a, false, t0, &l);
    }
    assert!(g.begin(me, Target::Oper("alice"), t0, &l).is_err());
    assert!(g.begin(me, ALICE, t0, &l).is_ok());
}

#[test]
fn registrations_per_address_per_hour() {
    let (mut r, l, t0) = (Registrations::default(), limits(), Instant::now());
    let me = ip("10.0.0.1");
    assert_eq!(r.allow(me, t0, 2, &l), Ok(()));
    assert_eq!(r.allow(me, t0 + Duration::from_secs(600), 2, &l), Ok(()));
    assert_eq!(
        r.allow(me, t0 + Duration::from_secs(1200), 2, &l),
        Err(2400),
        "until the first one is an hour old"
    );
    assert_eq!(r.allow(ip("10.0.0.2"), t0, 2, &l), Ok(()));
    assert_eq!(r.allow(me, t0 + Duration::from_secs(3601), 2, &l), Ok(()));
    assert_eq!(r.allow(me, t0, 0, &l), Ok(()), "0 is no limit");
}

/// One step of an interleaving: start a guess (target, address), or end
/// the n-th guess in flight.
#[derive(Debug, Clone)]
enum Op {
    Begin { target: u8, from: u8 },
    End { nth: usize, ok: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..3, 0u8..3).prop_map(|(target, from)| Op::Begin { target, from }),
        (any::<usize>(), prop::bool::weighted(0.1)).prop_map(|(nth, ok)| Op::End { nth, ok }),
    ]
}

proptest! {
    /// Within one window and no lock expiring, however guesses interleave,
    /// the passwords checked that turned out wrong never exceed the limits:
    /// per target and address `per_account` since that pair's last success,
    /// per address `per_ip`.
    #[test]
    fn no_interleaving_checks_more_than_the_limits(ops in prop::collection::vec(op(), 1..200)) {
        let (mut g, l, now) = (Guard::default(), limits(), Instant::now());
        let mut flying: Vec<(Attempt, u8, u8)> = Vec::new();
        let mut pair_failed: HashMap<(u8, u8), u32> = HashMap::new();
        let mut pair_flying: HashMap<(u8, u8), u32> = HashMap::new();
        let mut ip_failed: HashMap<u8, u32> = HashMap::new();
        let mut ip_flying: HashMap<u8, u32> = HashMap::new();
        let names = ["alice", "bob", "carol"];
        for op in ops {
            match op {
                Op::Begin { target, from } => {
                    let addr = IpAddr::from([10, 0, 0, from]);
                    if let Ok(a) = g.begin(addr, Target::Account(names[target as usize]), now, &l) {
                        *pair_flying.entry((target, from)).or_default() += 1;
                        *ip_flying.entry(from).or_default() += 1;
                        flying.push((a, target, from));
                    }
                }
                Op::End { nth, ok } if !flying.is_empty() => {
                    let (a, target, from) = flying.remove(nth % flying.len());
                    g.finish(a, ok, now, &l);
                    *pair_flying.entry((target, from)).or_default() -= 1;
                    *ip_flying.entry(from).or_default() -= 1;
                    if ok {
                        pair_failed.insert((target, from), 0);
                    } else {
                        *pair_failed.entry((target, from)).or_default() += 1;
                        *ip_failed.entry(from).or_default() += 1;
                    }
                }
                Op::End { .. } => {}
            }
            for (k, &n) in &pair_failed {
                let flying = pair_flying.get(k).copied().unwrap_or(0);
                prop_assert!(n + flying <= l.per_account, "pair {k:?}: {n} failed + {flying} in flight");
            }
            for (k, &n) in &ip_failed {
                let flying = ip_flying.get(k).copied().unwrap_or(0);
                prop_assert!(n + flying <= l.per_ip, "address {k}: {n} failed + {flying} in flight");
            }
        }
    }
}
