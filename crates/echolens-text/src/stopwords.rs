//! Stop words: the function words of English, Persian, Arabic and Russian, which keyness leaves out (a phrase
//! may hold them inside, as in "state of emergency", but never start or end with one).
//!
//! The lists are short on purpose: pronouns, articles, prepositions, conjunctions, particles and auxiliaries.
//! Content words, however frequent, stay: in influence campaigns "regime" or "нацисты" are the finding. Every
//! word is [`normalize`]d when a list is built, so Arabic and Persian spellings of yeh and kaf both match.

use std::collections::HashSet;

use crate::normalize;

/// A language with a built-in stop-word list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    /// English.
    English,
    /// Persian (Farsi).
    Persian,
    /// Arabic.
    Arabic,
    /// Russian.
    Russian,
}

impl Language {
    /// Every language with a list.
    pub const ALL: [Language; 4] = [Language::English, Language::Persian, Language::Arabic, Language::Russian];

    /// The ISO 639-1 code: `en`, `fa`, `ar`, `ru`.
    pub fn code(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::Persian => "fa",
            Language::Arabic => "ar",
            Language::Russian => "ru",
        }
    }

    /// The language for an ISO 639-1 code or an English name.
    pub fn from_name(name: &str) -> Option<Language> {
        match name.trim().to_ascii_lowercase().as_str() {
            "en" | "english" => Some(Language::English),
            "fa" | "persian" | "farsi" => Some(Language::Persian),
            "ar" | "arabic" => Some(Language::Arabic),
            "ru" | "russian" => Some(Language::Russian),
            _ => None,
        }
    }

    fn words(self) -> &'static str {
        match self {
            Language::English => ENGLISH,
            Language::Persian => PERSIAN,
            Language::Arabic => ARABIC,
            Language::Russian => RUSSIAN,
        }
    }
}

/// A set of stop words, normalised.
#[derive(Debug, Clone, Default)]
pub struct StopWords {
    words: HashSet<String>,
}

impl StopWords {
    /// The stop words of `languages` (none: an empty set).
    pub fn new(languages: &[Language]) -> StopWords {
        let mut words = HashSet::new();
        for lang in languages {
            for w in lang.words().split_whitespace() {
                words.insert(normalize(w));
            }
        }
        StopWords { words }
    }

    /// Whether `token` (a normalised token) is a stop word.
    pub fn contains(&self, token: &str) -> bool {
        self.words.contains(token)
    }

    /// The number of words.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }
}

const ENGLISH: &str = "a about above after again against all am an and any are as at be because been before being \
below between both but by can could did do does doing down during each few for from further had has have having he \
her here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now \
of off on once only or other our ours ourselves out over own same she should so some such than that the their theirs \
them themselves then there these they this those through to too under until up very was we were what when where \
which while who whom why will with would you your yours yourself yourselves us s t re ve ll d m don doesn didn isn \
aren wasn weren won wouldn shouldn couldn also via amp rt";

const PERSIAN: &str = "و در به از که این آن را با برای تا یا هم نیز اما ولی اگر چون چه چرا کی کجا است هست نیست بود \
باشد شد شود می‌شود کرد کند می‌کند کرده شده خود ما من تو او ایشان آنها آن‌ها اینها این‌ها شما وی بر پس پیش بین روی زیر \
همه هر هیچ دیگر یک ای های ها ی بی نه آیا همین همان چنین چنان وقتی هنگامی درباره مورد طور بسیار خیلی فقط حتی باید \
شان مان تان ام ات اش دارد دارند داشت هستند بودند";

const ARABIC: &str = "و في من إلى الى على عن مع أن ان إن لا ما لم لن هذا هذه ذلك تلك هو هي هم هن أنا نحن أنت \
انت أنتم الذي التي الذين كان كانت يكون قد كل بعض أو او ثم بل لكن حتى إذا اذا عند بين فوق تحت قبل بعد منذ \
غير أي اي كما لقد فقط أيضا ايضا هناك هنا كيف لماذا متى أين اين به بها له لها لهم فيه فيها منه منها عليه عليها";

const RUSSIAN: &str = "и в во не что он на я с со как а то все всё она так его но да ты к у же вы за бы по только \
ее её мне было вот от меня еще ещё нет о из ему теперь когда даже ну вдруг ли если уже или ни быть был него до вас \
нибудь опять уж вам ведь там потом себя ничего ей может они тут где есть надо ней для мы тебя их чем была сам чтоб \
без будто чего раз тоже себе под будет ж тогда кто этот того потому этого какой совсем ним здесь этом один почти мой \
тем чтобы нее сейчас были куда зачем всех никогда можно при наконец два об другой хоть после над больше тот через \
эти нас про всего них какая много разве три эту моя впрочем хорошо свою этой перед иногда лучше чуть том нельзя \
такой им более всегда конечно всю между это";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_match_normalised_tokens() {
        let all = StopWords::new(&Language::ALL);
        assert!(all.contains("the"));
        assert!(all.contains("это"));
        // Arabic kaf and yeh are normalised to the Persian letters in text and in the list alike.
        assert!(all.contains(&normalize("كيف")));
        assert!(all.contains(&normalize("في")));
        assert!(all.contains(&normalize("می‌شود")));
        assert!(!all.contains("regime"));
        assert!(StopWords::new(&[]).is_empty());
        let en = StopWords::new(&[Language::English]);
        assert!(!en.contains("это"));
    }

    #[test]
    fn languages_by_name() {
        for lang in Language::ALL {
            assert_eq!(Language::from_name(lang.code()), Some(lang));
        }
        assert_eq!(Language::from_name("Farsi"), Some(Language::Persian));
        assert_eq!(Language::from_name("xx"), None);
    }
}
