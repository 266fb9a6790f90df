//! The operator table: `data/plmn.tsv` (mcc, mnc, cc, brand, operator) and `data/mcc.tsv`
//! (mcc, cc), derived from the npm package mcc-mnc-list 1.1.11 (see `data/NOTICE-plmn`),
//! parsed once on first use and searched by binary search.

use std::sync::LazyLock;

/// One network of the table; empty fields of the data file are `None`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry {
    pub mcc: &'static str,
    pub mnc: &'static str,
    pub cc: Option<&'static str>,
    pub brand: Option<&'static str>,
    pub operator: Option<&'static str>,
}

/// The data files' text; `pub(super)` so a test can check every line parses.
pub(super) const PLMN_TSV: &str = include_str!("../../data/plmn.tsv");
pub(super) const MCC_TSV: &str = include_str!("../../data/mcc.tsv");

pub(super) static NETWORKS: LazyLock<Vec<Entry>> = LazyLock::new(|| {
    let mut rows: Vec<Entry> = PLMN_TSV.lines().filter_map(entry).collect();
    rows.sort_unstable_by_key(|e| (e.mcc, e.mnc));
    rows
});

pub(super) static COUNTRIES: LazyLock<Vec<(&'static str, &'static str)>> = LazyLock::new(|| {
    let mut rows: Vec<_> = MCC_TSV.lines().filter_map(|line| line.split_once('\t')).collect();
    rows.sort_unstable();
    rows
});

fn entry(line: &'static str) -> Option<Entry> {
    let some = |field: &'static str| (!field.is_empty()).then_some(field);
    let mut fields = line.split('\t');
    let (mcc, mnc) = (fields.next()?, fields.next()?);
    let (cc, brand, operator) = (fields.next()?, fields.next()?, fields.next()?);
    Some(Entry { mcc, mnc, cc: some(cc), brand: some(brand), operator: some(operator) })
}

/// The network with exactly this MCC and MNC ("01" and "001" are different MNCs).
pub(super) fn exact(mcc: &str, mnc: &str) -> Option<Entry> {
    let index = NETWORKS.binary_search_by(|e| (e.mcc, e.mnc).cmp(&(mcc, mnc))).ok()?;
    Some(NETWORKS[index])
}

/// The country (ISO alpha-2) most networks of this MCC belong to.
pub(super) fn country(mcc: &str) -> Option<&'static str> {
    let index = COUNTRIES.binary_search_by(|&(key, _)| key.cmp(mcc)).ok()?;
    Some(COUNTRIES[index].1)
}
