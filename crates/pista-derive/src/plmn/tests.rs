//! Exact-value tests for operator lookups, labels and payload parsing, and checks that every
//! line of the embedded data files is well formed.

use super::table::{COUNTRIES, MCC_TSV, NETWORKS, PLMN_TSV};
use super::{Operator, PlmnError, Status, label, lookup, parse_operators};

#[test]
fn labels_match_the_original_layout() {
    let cases = [
        // 262/01 is branded "Telekom" in the current data (it was "T-Mobile" in 2014).
        ("26201", "Telekom (DE)"),
        ("26202", "Vodafone (DE)"),
        ("+26203", "O2 (DE)"),
        ("310260", "T-Mobile (US)"),
        ("338050", "Digicel Bermuda (BM)"),
        ("33805", "Digicel (JM)"),
        ("23473", "Bluewave Communications Ltd (GB)"),
        ("90112", "Telenor (??)"),
        ("262001", "Telekom (DE)"),
        ("31012", "Verizon (US)"),
        ("99999", "not found"),
        ("26207", "not found"),
        ("2620", "not found"),
        ("26x01", "not found"),
        ("", "not found"),
    ];
    for (plmn, text) in cases {
        assert_eq!(label(plmn), text, "{plmn}");
    }
}

#[test]
fn lookup_gives_country_brand_and_operator() {
    assert_eq!(lookup("26201"), Some(("DE", Some("Telekom"), Some("Telekom Deutschland GmbH"))));
    assert_eq!(lookup("310260"), Some(("US", Some("T-Mobile"), Some("T-Mobile US"))));
    assert_eq!(lookup("338050"), Some(("BM", Some("Digicel Bermuda"), None)));
    assert_eq!(lookup("00101"), None);
    assert_eq!(lookup("90112"), Some(("??", Some("Telenor"), Some("Telenor Maritime AS"))));
    assert_eq!(lookup("22801"), Some(("CH", Some("Swisscom"), Some("Swisscom AG"))));
    assert_eq!(lookup("99999"), None);
    assert_eq!(lookup("+26201"), None);
    assert_eq!(lookup("2620123"), None);
}

fn op(
    plmn: &str,
    status: Status,
    country: Option<&'static str>,
    brand: Option<&'static str>,
    name: Option<&'static str>,
) -> Operator {
    Operator { plmn: plmn.to_owned(), status, country, brand, name }
}

#[test]
fn greenwich_payload_parses_in_order() {
    let payload = "26207 +22801 +22802 +22803 -26201 -22602 -26203 ?33301";
    let telefonica = Some("Telefónica Germany GmbH & Co. oHG");
    let expected = vec![
        // 262/07 is no longer in service, so only its MCC's country is known.
        op("26207", Status::Current, Some("DE"), None, None),
        op("22801", Status::Allowed, Some("CH"), Some("Swisscom"), Some("Swisscom AG")),
        op("22802", Status::Allowed, Some("CH"), Some("Sunrise"), Some("Sunrise UPC")),
        op("22803", Status::Allowed, Some("CH"), Some("Salt"), Some("Salt Mobile SA")),
        op(
            "26201",
            Status::Forbidden,
            Some("DE"),
            Some("Telekom"),
            Some("Telekom Deutschland GmbH"),
        ),
        op("22602", Status::Forbidden, Some("RO"), None, None),
        op("26203", Status::Forbidden, Some("DE"), Some("O2"), telefonica),
        op("33301", Status::Unknown, None, None, None),
    ];
    assert_eq!(parse_operators(payload), Ok(expected));
}

#[test]
fn statuses_come_from_prefixes_and_position() {
    let statuses = |payload| {
        parse_operators(payload).map(|ops| ops.iter().map(|o| o.status).collect::<Vec<_>>())
    };
    assert_eq!(
        statuses("-26201  26202\t+26203 ?26204 -26205"),
        Ok(vec![
            Status::Current,
            Status::Unknown,
            Status::Allowed,
            Status::Unknown,
            Status::Forbidden
        ])
    );
    assert_eq!(statuses(""), Ok(vec![]));
    assert_eq!(statuses("  310260  "), Ok(vec![Status::Current]));
}

#[test]
fn bad_tokens_are_named_in_the_error() {
    let not_digits = |t: &str| Err(PlmnError::NotDigits { token: t.to_owned() });
    let length = |t: &str, digits| Err(PlmnError::Length { token: t.to_owned(), digits });
    assert_eq!(parse_operators("26201 +2620x"), not_digits("+2620x"));
    assert_eq!(parse_operators("++26201"), not_digits("++26201"));
    assert_eq!(parse_operators("26201 ²6201"), not_digits("²6201"));
    assert_eq!(parse_operators("2620"), length("2620", 4));
    assert_eq!(parse_operators("26201 -"), length("-", 0));
    assert_eq!(parse_operators("2620112"), length("2620112", 7));
    assert_eq!(
        PlmnError::Length { token: "2620".to_owned(), digits: 4 }.to_string(),
        "plmn token \"2620\" has 4 digits, expected 5 or 6 (MCC 3, MNC 2 or 3)"
    );
}

#[test]
fn every_data_line_is_well_formed() {
    assert_eq!(NETWORKS.len(), PLMN_TSV.lines().count());
    assert_eq!(COUNTRIES.len(), MCC_TSV.lines().count());
    let digits =
        |s: &str, lens: &[usize]| lens.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    let alpha2 = |cc: &str| cc.len() == 2 && cc.bytes().all(|b| b.is_ascii_uppercase());
    for e in NETWORKS.iter() {
        assert!(digits(e.mcc, &[3]) && digits(e.mnc, &[2, 3]), "{e:?}");
        assert!(e.cc.is_none_or(alpha2), "{e:?}");
    }
    assert!(NETWORKS.windows(2).all(|w| (w[0].mcc, w[0].mnc) < (w[1].mcc, w[1].mnc)));
    assert!(COUNTRIES.iter().all(|&(mcc, cc)| digits(mcc, &[3]) && alpha2(cc)));
}
