//! The writing system a text is mostly in, to compare like with like (keyness against channels of the same
//! script, not against a corpus in another language).

use crate::chars;

/// A writing system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Script {
    /// No letters.
    None,
    /// Latin letters.
    Latin,
    /// Cyrillic letters.
    Cyrillic,
    /// Arabic script with Persian letters (پ چ ژ گ).
    Persian,
    /// Arabic script without them.
    Arabic,
    /// Other letters.
    Other,
}

impl Script {
    /// Its name in outputs.
    pub fn name(self) -> &'static str {
        match self {
            Script::None => "none",
            Script::Latin => "latin",
            Script::Cyrillic => "cyrillic",
            Script::Persian => "persian",
            Script::Arabic => "arabic",
            Script::Other => "other",
        }
    }

    /// All scripts, in code order ([`Script::code`]).
    pub const ALL: [Script; 6] =
        [Script::None, Script::Latin, Script::Cyrillic, Script::Persian, Script::Arabic, Script::Other];

    /// A small integer for plans.
    pub fn code(self) -> i64 {
        Script::ALL.iter().position(|s| *s == self).unwrap_or(0) as i64
    }
}

/// The script most of the first 400 letters of `text` are in (words with `://` or `www.`, links, not counted).
/// Arabic-script text is Persian when it has at least as many marks of Persian (پ چ ژ گ, ZWNJ) as of Arabic
/// (ة ى أ إ ؤ, words starting with ال).
pub fn script(text: &str) -> Script {
    let (mut latin, mut cyrillic, mut arabic, mut other) = (0u32, 0u32, 0u32, 0u32);
    let (mut persian_marks, mut arabic_marks) = (0u32, 0u32);
    let mut letters = 0;
    for word in text.split_whitespace() {
        if word.contains("://") || word.starts_with("www.") {
            continue;
        }
        if word.starts_with("ال") {
            arabic_marks += 1;
        }
        for c in word.chars() {
            match c {
                '\u{200C}' => persian_marks += 1,
                'پ' | 'چ' | 'ژ' | 'گ' => persian_marks += 1,
                'ة' | 'ى' | 'أ' | 'إ' | 'ؤ' => arabic_marks += 1,
                _ => {}
            }
            if !chars::is_alphabetic(c) {
                continue;
            }
            letters += 1;
            match c {
                'a'..='z' | 'A'..='Z' | '\u{C0}'..='\u{24F}' => latin += 1,
                '\u{400}'..='\u{52F}' => cyrillic += 1,
                '\u{600}'..='\u{6FF}' | '\u{750}'..='\u{77F}' | '\u{FB50}'..='\u{FDFF}' | '\u{FE70}'..='\u{FEFF}' => {
                    arabic += 1
                }
                _ => other += 1,
            }
        }
        if letters >= 400 {
            break;
        }
    }
    let best = latin.max(cyrillic).max(arabic).max(other);
    if best == 0 {
        Script::None
    } else if best == arabic {
        if persian_marks >= arabic_marks { Script::Persian } else { Script::Arabic }
    } else if best == latin {
        Script::Latin
    } else if best == cyrillic {
        Script::Cyrillic
    } else {
        Script::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_of_the_four_first_class_languages() {
        assert_eq!(script("the vote is rigged"), Script::Latin);
        assert_eq!(script("выборы сфальсифицированы"), Script::Cyrillic);
        assert_eq!(script("انتخابات تقلبی بود و مردم به خیابان\u{200C}ها رفتند چون"), Script::Persian);
        assert_eq!(script("الانتخابات مزورة والشعب في الشوارع"), Script::Arabic);
        assert_eq!(script("12 345 !!"), Script::None);
        assert_eq!(script("選挙"), Script::Other);
        assert_eq!(script("the word انتخابات in English text"), Script::Latin);
        // No Persian letter, but a ZWNJ-joined plural; a long link does not make it Latin.
        assert_eq!(script("مردم ایران حقیقت را می\u{200C}دانند https://example.com/a/very/long/path"), Script::Persian);
        assert_eq!(script("مردم ایران"), Script::Persian, "no mark either way: Persian");
        assert_eq!(script("قال الرئيس إن الحكومة"), Script::Arabic);
    }
}
