//! OwnTracks payload encryption: the `data` text of an `{"_type":"encrypted","data":...}`
//! envelope is the base64 of a 24-byte nonce followed by a libsodium `crypto_secretbox`
//! (XSalsa20 with a Poly1305 tag in front of the ciphertext). The key is the device's secret as
//! the apps build it: its UTF-8 bytes cut at 32 bytes and padded with zero bytes, with no hashing.
//! Cutting at a byte count is what libsodium, Android and the Recorder do; iOS instead drops a
//! multi-byte character that would straddle byte 32, so a secret with such a character works
//! with iOS only if it is shorter. ASCII secrets avoid the difference and are the ones to
//! recommend.

use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use crypto_secretbox::aead::{Aead, AeadCore, KeyInit, OsRng};
use crypto_secretbox::{Key, Nonce, XSalsa20Poly1305};

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// Reads the standard alphabet with or without `=` padding, as senders differ on it.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why an encrypted payload could not be opened, or a secret not be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CryptoError {
    #[error("the secret is empty")]
    EmptySecret,
    #[error("data is not base64: {detail}")]
    BadBase64 { detail: String },
    #[error("data is {len} bytes long, shorter than a nonce and a tag (40 bytes)")]
    TooShort { len: usize },
    #[error("data does not authenticate: wrong secret or altered data")]
    BadKey,
}

impl CryptoError {
    /// A stable, short reason for counters and rejection records.
    pub fn reason(&self) -> &'static str {
        match self {
            CryptoError::EmptySecret => "no_key",
            CryptoError::BadBase64 { .. } | CryptoError::TooShort { .. } => "bad_base64",
            CryptoError::BadKey => "bad_key",
        }
    }
}

/// A device's shared secret, kept as the 32-byte key. Debug/Display never show it.
/// Not comparable on purpose: comparing keys byte by byte would leak timing.
#[derive(Clone)]
pub struct Secret {
    key: [u8; KEY_LEN],
}

impl Secret {
    /// Builds the key the apps use: the UTF-8 bytes of `text`, truncated to 32 bytes and
    /// right-padded with `0x00`. An empty text means "no encryption" to the apps, so it is refused.
    pub fn new(text: &str) -> Result<Secret, CryptoError> {
        if text.is_empty() {
            return Err(CryptoError::EmptySecret);
        }
        let bytes = text.as_bytes();
        let used = bytes.len().min(KEY_LEN);
        let mut key = [0u8; KEY_LEN];
        key[..used].copy_from_slice(&bytes[..used]);
        Ok(Secret { key })
    }

    fn cipher(&self) -> XSalsa20Poly1305 {
        XSalsa20Poly1305::new(&Key::from(self.key))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Decrypts the base64 `data` of an encrypted envelope. Line breaks and other whitespace inside
/// the text are skipped and the `=` padding may be missing.
pub fn open(secret: &Secret, data: &str) -> Result<Vec<u8>, CryptoError> {
    let compact: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let raw = LENIENT
        .decode(compact.as_bytes())
        .map_err(|error| CryptoError::BadBase64 { detail: error.to_string() })?;
    let Some((nonce, sealed)) =
        raw.split_first_chunk::<NONCE_LEN>().filter(|(_, sealed)| sealed.len() >= TAG_LEN)
    else {
        return Err(CryptoError::TooShort { len: raw.len() });
    };
    secret.cipher().decrypt(&Nonce::from(*nonce), sealed).map_err(|_| CryptoError::BadKey)
}

/// Encrypts `plaintext` with a fresh random nonce and returns the `data` text of an envelope.
pub fn seal(secret: &Secret, plaintext: &[u8]) -> String {
    let nonce = XSalsa20Poly1305::generate_nonce(&mut OsRng);
    seal_with_nonce(secret, nonce.into(), plaintext)
}

/// Encrypts `plaintext` with the given nonce (for reproducible tests; a nonce must never be
/// reused with the same secret) and returns the `data` text: standard base64 with padding.
pub fn seal_with_nonce(secret: &Secret, nonce: [u8; NONCE_LEN], plaintext: &[u8]) -> String {
    let sealed = secret
        .cipher()
        .encrypt(&Nonce::from(nonce), plaintext)
        .expect("secretbox sealing fails only when given associated data, and none is passed");
    let mut raw = Vec::with_capacity(NONCE_LEN + sealed.len());
    raw.extend_from_slice(&nonce);
    raw.extend_from_slice(&sealed);
    STANDARD.encode(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANDROID_DATA: &str = concat!(
        "aUiEKyGnskRz383od0mu4uqxTIxeZUddBVxKEmsdv1FFSH2y0NwqLP1tTqOmxaFhGv0bNX1DT7o8",
        "1FW9Yaxpla6Byvr6CZV3t2skQv8nlxiIv1ZpQWM1bqHE0JFHwD3/yRx9bLHRF3j67kWcO6o2D/xn",
        "4ma8Fd4u86NPobFkRIzIhJljphEZyDCGugp7H3FkydGvgEkljb1/P1K91E/ij+m73wFplvTQm8ba",
        "5eWSFlQHDdY2B7QwbVPrKarHJLrm1+Y29+HD4Wg6TNhBJZLvdsmek6AcZLB+bq7Q84tUWoLrKp3a",
        "iyJZZX70q4HbVI3skkmDWMuMP2cDmsY9bvBjh1ZWAGlOq5VS1dWIlu6OWgWN9VdDbLzP+s2ykeFX",
        "rGs=",
    );
    const ANDROID_PLAIN: &str = concat!(
        r#"{"_type":"location","BSSID":"00:13:10:85:fe:01","SSID":"AndroidWifi","#,
        r#""_id":"0d871a61","acc":5,"alt":5,"batt":100,"bs":0,"cog":0,"conn":"w","#,
        r#""created_at":1754215100,"lat":50.1182933,"lon":-5.5407733,"m":2,"tid":"xa","#,
        r#""tst":1754215100,"vac":0,"vel":0}"#,
    );
    const GENERATED_PLAIN: &str = concat!(
        r#"{"_type":"location","lat":48.85833,"lon":2.29513,"tid":"JJ","tst":1441984413,"#,
        r#""t":"u","batt":-1}"#,
    );
    const MYSECRET_DATA: &str = concat!(
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXKHD1/5A/vBXDlcPCCNXSddv2hFEi673vdntViQ9cMNc1",
        "+D0+oyr0ujPh1H9CxQ22znRarkYCzufJxOjjuoFiNfESWuLcCZgUTF1ceaGqvUTx3+MYDdTY4+A2",
        "tZDK6gljhckjUN5M2JAZ12Chl8uQ",
    );
    const LONG_SECRET_DATA: &str = concat!(
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXKdjJkvR+qtie2cTrD9QCjrcvMXAJATSCHST4TvwSjV57",
        "iCMmM7ca0XMgwH9bnaCsPmk1BEVf93MtLw1l9oGVvFnPPn77bfUgftAQV5k/uPKMcDsac6zWzZe1",
        "EqvwijHMWHTcrg2Uh2pbDXALQ/Ij",
    );

    fn counting_nonce() -> [u8; NONCE_LEN] {
        std::array::from_fn(|i| i as u8)
    }

    fn secret(text: &str) -> Secret {
        Secret::new(text).unwrap()
    }

    #[test]
    fn keys_are_the_secret_bytes_cut_and_padded() {
        let long = *b"0123456789abcdef0123456789abcdef";
        // Byte truncation keeps the first byte of a two-byte character that straddles byte 32.
        let mut cut_char = long;
        cut_char[31] = 0xC3;
        let cases: [(&str, [u8; KEY_LEN]); 4] = [
            ("123", *b"123\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"),
            ("mysecreTpass01", *b"mysecreTpass01\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"),
            ("0123456789abcdef0123456789abcdefEXTRA", long),
            ("0123456789abcdef0123456789abcde\u{e9}", cut_char),
        ];
        for (text, key) in cases {
            assert_eq!(secret(text).key, key, "{text}");
        }
    }

    #[test]
    fn the_android_vector_opens_with_its_secret_only() {
        let plain = open(&secret("123"), ANDROID_DATA).unwrap();
        assert_eq!(plain.len(), 247);
        assert_eq!(String::from_utf8(plain).unwrap(), ANDROID_PLAIN);
        assert_eq!(open(&secret("1234"), ANDROID_DATA), Err(CryptoError::BadKey));
    }

    #[test]
    fn generated_vectors_are_reproduced_and_opened() {
        let cases = [
            ("mysecreTpass01", MYSECRET_DATA),
            ("0123456789abcdef0123456789abcdefEXTRA", LONG_SECRET_DATA),
            ("0123456789abcdef0123456789abcdef", LONG_SECRET_DATA),
        ];
        for (text, data) in cases {
            let key = secret(text);
            assert_eq!(seal_with_nonce(&key, counting_nonce(), GENERATED_PLAIN.as_bytes()), data);
            assert_eq!(open(&key, data).unwrap(), GENERATED_PLAIN.as_bytes(), "{text}");
        }
    }

    #[test]
    fn lenient_base64_forms_open() {
        let key = secret("mysecreTpass01");
        let wrapped: String = MYSECRET_DATA
            .as_bytes()
            .chunks(76)
            .map(|line| format!("{}\r\n", std::str::from_utf8(line).unwrap()))
            .collect();
        let padded = seal_with_nonce(&key, counting_nonce(), b"abcd");
        assert!(padded.ends_with('='), "{padded}");
        let cases: [(String, &[u8]); 4] = [
            (wrapped, GENERATED_PLAIN.as_bytes()),
            (format!("  {MYSECRET_DATA}\n"), GENERATED_PLAIN.as_bytes()),
            (padded.trim_end_matches('=').to_owned(), b"abcd"),
            (padded.clone(), b"abcd"),
        ];
        for (data, want) in cases {
            assert_eq!(open(&key, &data).unwrap(), want, "{data:?}");
        }
    }

    #[test]
    fn random_nonces_round_trip_and_differ() {
        let key = secret("round trip");
        let cases: [&[u8]; 3] = [b"", b"x", GENERATED_PLAIN.as_bytes()];
        for plain in cases {
            let first = seal(&key, plain);
            let second = seal(&key, plain);
            assert_ne!(first, second);
            assert_eq!(STANDARD.decode(&first).unwrap().len(), NONCE_LEN + TAG_LEN + plain.len());
            assert_eq!(open(&key, &first).unwrap(), plain);
            assert_eq!(open(&key, &second).unwrap(), plain);
        }
    }

    #[test]
    fn bad_data_is_refused_with_its_reason() {
        let key = secret("mysecreTpass01");
        let mut altered = STANDARD.decode(MYSECRET_DATA).unwrap();
        altered[50] ^= 0x01;
        let altered = STANDARD.encode(altered);
        let mut bad_nonce = STANDARD.decode(MYSECRET_DATA).unwrap();
        bad_nonce[0] ^= 0x80;
        let bad_nonce = STANDARD.encode(bad_nonce);
        let forty = STANDARD.encode([0u8; 40]);

        let cases = [
            ("not*base64", "bad_base64", "data is not base64: Invalid symbol 42, offset 3."),
            (
                "AAAA",
                "bad_base64",
                "data is 3 bytes long, shorter than a nonce and a tag (40 bytes)",
            ),
            ("", "bad_base64", "data is 0 bytes long, shorter than a nonce and a tag (40 bytes)"),
            (
                &STANDARD.encode([0u8; 39]),
                "bad_base64",
                "data is 39 bytes long, shorter than a nonce and a tag (40 bytes)",
            ),
            (&forty, "bad_key", "data does not authenticate: wrong secret or altered data"),
            (&altered, "bad_key", "data does not authenticate: wrong secret or altered data"),
            (&bad_nonce, "bad_key", "data does not authenticate: wrong secret or altered data"),
        ];
        for (data, reason, message) in cases {
            let error = open(&key, data).unwrap_err();
            assert_eq!((error.reason(), error.to_string().as_str()), (reason, message), "{data}");
        }
    }

    #[test]
    fn empty_secret_is_refused() {
        let error = Secret::new("").unwrap_err();
        assert_eq!(error, CryptoError::EmptySecret);
        assert_eq!((error.reason(), error.to_string().as_str()), ("no_key", "the secret is empty"));
    }

    #[test]
    fn secrets_are_never_shown() {
        let key = secret("hunter2-very-secret");
        let shown = [format!("{key:?}"), format!("{key}"), format!("{:?}", Some(key.clone()))];
        assert_eq!(shown, ["Secret(<redacted>)", "<redacted>", "Some(Secret(<redacted>))"]);
        for text in shown {
            assert!(!text.contains("hunter2"), "{text}");
        }
    }
}
