//! Codes and states with stable strings. `stable_strings!` declares such an enum from
//! one table of `Variant = "string"` rows, and everything that spells a variant (serde,
//! `as_str`, `parse`, `FromStr`, `Display`, `ALL`) is generated from that table, so a
//! string is written once. A leaf: it imports nothing from the crate.

/// A string that names no variant of a code or state enum.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {got:?} (expected one of {expected})")]
pub struct UnknownCode {
    /// What was being parsed, e.g. `approval state`.
    pub kind: &'static str,
    /// The string given, at most 100 characters of it.
    pub got: String,
    /// The known strings, comma-separated.
    pub expected: String,
}

impl UnknownCode {
    /// The error for `got`, which is none of `known`.
    pub fn new(kind: &'static str, got: &str, known: &[&str]) -> Self {
        UnknownCode {
            kind,
            got: got.chars().take(100).collect(),
            expected: known.join(", "),
        }
    }
}

/// Declares a `Copy` enum whose stable strings sit in one table:
///
/// ```text
/// stable_strings! {
///     /// Where a thing stands.
///     pub enum ThingState: "thing state" {
///         /// Not yet done.
///         Pending = "pending",
///         Done = "done",
///     }
/// }
/// ```
///
/// serde reads and writes each variant as its string (`#[serde(rename)]` from the table);
/// `as_str`, `parse` (an `Option`, like the crate's other enums), `FromStr` (an
/// [`UnknownCode`] naming the kind), `Display` and `ALL` (declaration order) follow it,
/// and a variant compares equal to its string (`PartialEq<str>` both ways), so a test
/// can say `assert_eq!(rec.state, "approved")`.
macro_rules! stable_strings {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident : $kind:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $s:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash,
            serde::Serialize, serde::Deserialize,
        )]
        $vis enum $name {
            $( $(#[$vmeta])* #[serde(rename = $s)] $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable string.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $s,)+
                }
            }

            /// The variant spelled `s`, if any.
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($s => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::codes::UnknownCode;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s).ok_or_else(|| {
                    $crate::codes::UnknownCode::new($kind, s, &[$($s),+])
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.as_str()
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.as_str()
            }
        }
    };
}

pub(crate) use stable_strings;

/// Checks, for a test, that `all` (a `stable_strings!` enum's `ALL`) spells exactly
/// `expected` (today's strings, in declaration order), and that every variant
/// round-trips through `as_str`/`FromStr` and serde and equals its string.
#[cfg(test)]
pub(crate) fn assert_stable<T>(all: &[T], expected: &[&str])
where
    T: Copy
        + std::fmt::Debug
        + PartialEq
        + for<'a> PartialEq<&'a str>
        + std::fmt::Display
        + std::str::FromStr<Err = UnknownCode>
        + serde::Serialize
        + serde::de::DeserializeOwned,
{
    let strings: Vec<String> = all.iter().map(|v| v.to_string()).collect();
    assert_eq!(strings, expected);
    for &v in all {
        let s = v.to_string();
        assert_eq!(s.parse::<T>(), Ok(v));
        assert_eq!(v, s.as_str());
        assert_ne!(v, "no-such-code");
        let json = serde_json::to_value(v).unwrap();
        assert_eq!(json, serde_json::Value::String(s));
        assert_eq!(serde_json::from_value::<T>(json).unwrap(), v);
    }
    let err = "no-such-code".parse::<T>().unwrap_err();
    assert_eq!(err.got, "no-such-code");
    assert_eq!(err.expected, expected.join(", "));
    assert!(serde_json::from_str::<T>("\"no-such-code\"").is_err());
}
