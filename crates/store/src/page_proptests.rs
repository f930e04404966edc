//! Property tests of the page codec: any list of records comes back as it
//! went in (in both formats), and no bytes, however damaged, make the
//! decoder panic. The strategies here also serve the journal's tests.
//!
//! Case counts are modest; `PROPTEST_CASES` raises them.
//!
//! Must not touch SQLite: page bodies only.

use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::keys::from_ms;

/// `default_cases` cases, unless `PROPTEST_CASES` says otherwise.
pub(crate) fn config(default_cases: u32) -> ProptestConfig {
    let mut c = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = default_cases;
    }
    c
}

fn kind() -> impl Strategy<Value = RecordKind> {
    (0u8..9).prop_map(|c| kind_of(c).expect("0..9 are kinds"))
}

/// Client tags as records keep them: mostly none, else a few `+` keys
/// with any value (the empty one included).
fn tags() -> impl Strategy<Value = Vec<(Name, Name)>> {
    prop_oneof![
        2 => Just(Vec::new()),
        1 => proptest::collection::vec(("\\+[a-z/]{1,12}", text()), 1..4),
    ]
    .prop_map(|v| v.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-z #]{0,12}", Just(String::new())]
}

/// An account, or none (also the empty name: the codec must tell the two
/// apart).
fn account() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof!["[A-Ca-c]{1,3}", text()])
}

/// A few senders, some sharing a nickname with another ident, host or
/// account, so that pages name senders once and refer back to them. With
/// `accounts` false, none is logged in (a room's pages keep no accounts).
fn senders(accounts: bool) -> impl Strategy<Value = Vec<Arc<UserInfo>>> {
    proptest::collection::vec(
        (
            "[a-c]{1,2}",
            text(),
            text(),
            prop_oneof![Just("::1".to_string()), text()],
            account(),
        ),
        1..5,
    )
    .prop_map(move |v| {
        v.into_iter()
            .map(|(nick, user, realname, host, account)| {
                Arc::new(UserInfo {
                    nick: nick.into(),
                    user: user.into(),
                    realname: realname.into(),
                    host: host.into(),
                    account: account.filter(|_| accounts).map(Into::into),
                    bot: false,
                })
            })
            .collect()
    })
}

fn target(rooms_only: bool) -> BoxedStrategy<MsgTarget> {
    let name = prop_oneof!["#[a-b]{1,2}", text()];
    if rooms_only {
        name.prop_map(|n| MsgTarget::Room(n.into())).boxed()
    } else {
        (0u8..3, name)
            .prop_map(|(k, n)| match k {
                0 => MsgTarget::Room(n.into()),
                1 => MsgTarget::Nick(n.into()),
                _ => MsgTarget::Status(n.into()),
            })
            .boxed()
    }
}

/// Records with their times in milliseconds: any ids and times (both
/// extremes included), senders from a small pool; for the journal
/// (`rooms_only` false) with accounts on both sides, now and then.
pub(crate) fn records(rooms_only: bool, max: usize) -> impl Strategy<Value = Vec<(i64, Record)>> {
    let ms = prop_oneof![
        any::<i64>(),
        1_700_000_000_000i64..1_700_000_100_000,
        Just(i64::MIN),
        Just(i64::MAX)
    ];
    let id = prop_oneof![any::<u64>(), 1u64..1000];
    senders(!rooms_only).prop_flat_map(move |pool| {
        let n = pool.len();
        proptest::collection::vec(
            (
                id.clone(),
                ms.clone(),
                kind(),
                0..n,
                target(rooms_only),
                text(),
                account(),
                tags(),
            ),
            0..max,
        )
        .prop_map(move |v| {
            v.into_iter()
                .map(|(id, ms, kind, who, to, text, to_account, tags)| {
                    let rec = Record {
                        id,
                        time: from_ms(ms),
                        kind,
                        from: pool[who].clone(),
                        to,
                        text: text.into(),
                        to_account: to_account.filter(|_| !rooms_only).map(Into::into),
                        tags,
                    };
                    (ms, rec)
                })
                .collect()
        })
    })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn a_rooms_page_round_trips(mut recs in records(true, 24)) {
        recs.sort_by_key(|(ms, r)| (*ms, r.id));
        let mut body = Vec::new();
        encode(recs.iter().map(|(ms, r)| (*ms, r)), &mut body);
        prop_assert_eq!(decode(&body, 1).expect("decodes"), recs);
    }

    #[test]
    fn a_journal_body_round_trips_in_any_order(recs in records(false, 24)) {
        let mut body = Vec::new();
        encode_any(recs.iter().map(|(ms, r)| (*ms, r)), &mut body);
        prop_assert_eq!(decode(&body, 1).expect("decodes"), recs);
    }

    /// A journal body written before accounts were kept (format 2) reads
    /// back as the same records without their accounts (nor tags).
    #[test]
    fn an_older_journal_body_reads_back_without_accounts(recs in records(false, 24)) {
        let mut body = Vec::new();
        encode_as(FORMAT_ANY_TARGET, recs.iter().map(|(ms, r)| (*ms, r)), &mut body);
        let without: Vec<(i64, Record)> = recs
            .into_iter()
            .map(|(ms, r)| {
                let from = Arc::new(UserInfo { account: None, ..(*r.from).clone() });
                (ms, Record { from, to_account: None, tags: Vec::new(), ..r })
            })
            .collect();
        prop_assert_eq!(decode(&body, 1).expect("decodes"), without);
    }

    /// A journal body written before tags were kept (format 3) reads back
    /// as the same records, accounts included, without tags.
    #[test]
    fn a_journal_body_from_before_tags_keeps_its_accounts(recs in records(false, 24)) {
        let mut body = Vec::new();
        encode_before_tags(true, recs.iter().map(|(ms, r)| (*ms, r)), &mut body);
        prop_assert_eq!(body[0], FORMAT_ACCOUNTS);
        let without: Vec<(i64, Record)> = recs
            .into_iter()
            .map(|(ms, r)| (ms, Record { tags: Vec::new(), ..r }))
            .collect();
        prop_assert_eq!(decode(&body, 1).expect("decodes"), without);
    }

    /// A room's page written before tags were kept (format 1) reads back
    /// as the same records without tags; one written now keeps them.
    #[test]
    fn a_page_from_before_tags_reads_back_without_them(mut recs in records(true, 24)) {
        recs.sort_by_key(|(ms, r)| (*ms, r.id));
        let mut old = Vec::new();
        encode_before_tags(false, recs.iter().map(|(ms, r)| (*ms, r)), &mut old);
        prop_assert_eq!(old[0], FORMAT_PLAIN);
        let without: Vec<(i64, Record)> = recs
            .iter()
            .map(|(ms, r)| (*ms, Record { tags: Vec::new(), ..r.clone() }))
            .collect();
        prop_assert_eq!(decode(&old, 1).expect("decodes"), without);
        let mut new = Vec::new();
        encode(recs.iter().map(|(ms, r)| (*ms, r)), &mut new);
        prop_assert_eq!(new[0], FORMAT);
        prop_assert_eq!(decode(&new, 1).expect("decodes"), recs);
    }

    /// The `tags` column's encoding round-trips; none is NULL; damage is
    /// an error naming the msgid, never a panic.
    #[test]
    fn a_rows_tags_round_trip(
        tags in tags(),
        bytes in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        match encode_tags(&tags) {
            None => prop_assert!(tags.is_empty()),
            Some(b) => prop_assert_eq!(decode_tags(&b, 1).expect("decodes"), tags),
        }
        if let Err(e) = decode_tags(&bytes, 77) {
            prop_assert!(e.to_string().contains("77"), "{e}");
        }
    }

    /// A page cut anywhere is an error or, cut between records, the
    /// records before the cut: never a record that was not written.
    #[test]
    fn a_cut_page_is_an_error_or_the_records_before_the_cut(
        recs in records(false, 12),
        cut in any::<usize>(),
    ) {
        let mut body = Vec::new();
        encode_any(recs.iter().map(|(ms, r)| (*ms, r)), &mut body);
        let cut = cut % body.len();
        if let Ok(got) = decode(&body[..cut], 7) {
            prop_assert!(got.len() < recs.len().max(1));
            prop_assert_eq!(&got[..], &recs[..got.len()]);
        }
    }

    #[test]
    fn any_bytes_decode_to_records_or_an_error_naming_the_page(
        format in 0u8..7,
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
        page in any::<i64>(),
    ) {
        let mut body = vec![format];
        body.extend_from_slice(&bytes);
        if let Err(e) = decode(&body, page) {
            prop_assert!(e.to_string().contains(&format!("page {page}")), "{e}");
        }
        let _ = decode(&bytes, page);
    }

    /// What decodes, encoded again, decodes to the same records: the
    /// decoder never makes a record the encoder cannot write.
    #[test]
    fn decoded_records_encode_again(
        format in 1u8..6,
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut body = vec![format];
        body.extend_from_slice(&bytes);
        if let Ok(recs) = decode(&body, 1) {
            let mut again = Vec::new();
            encode_any(recs.iter().map(|(ms, r)| (*ms, r)), &mut again);
            prop_assert_eq!(decode(&again, 1).expect("decodes"), recs);
        }
    }

    #[test]
    fn one_damaged_byte_never_panics(
        recs in records(false, 8),
        at in any::<usize>(),
        value in any::<u8>(),
    ) {
        let mut body = Vec::new();
        encode_any(recs.iter().map(|(ms, r)| (*ms, r)), &mut body);
        let at = at % body.len();
        body[at] = value;
        let _ = decode(&body, 1);
    }
}
