//! An ordered header list that keeps repeated headers.

use std::fmt;
use std::ops::Range;

/// The headers of a frame, in wire order.
///
/// STOMP allows a header to repeat; the first occurrence is the one that counts
/// ([`Headers::get`]), and every occurrence stays reachable ([`Headers::get_all`],
/// [`Headers::iter`]). Names and values are stored unescaped, as text.
///
/// All names and values live in one `String` with a small index beside it, so a decoded
/// frame costs two allocations however many headers it has.
#[derive(Clone, Default)]
pub struct Headers {
    /// Every name and value, back to back; replaced values leave unused text behind.
    buf: String,
    /// Byte ranges into `buf`, one `(name, value)` pair per header, in order.
    entries: Vec<(Range<usize>, Range<usize>)>,
}

impl Headers {
    /// An empty header list.
    pub fn new() -> Headers {
        Headers::default()
    }

    /// An empty header list with room for `headers` entries and `bytes` bytes of text.
    pub fn with_capacity(headers: usize, bytes: usize) -> Headers {
        Headers {
            buf: String::with_capacity(bytes),
            entries: Vec::with_capacity(headers),
        }
    }

    /// The number of headers, repeats included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there is no header.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of the first header called `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Every value of the headers called `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.iter().filter(move |(n, _)| *n == name).map(|(_, v)| v)
    }

    /// True when at least one header is called `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Every `(name, value)` pair in wire order.
    pub fn iter(
        &self,
    ) -> impl DoubleEndedIterator<Item = (&str, &str)> + ExactSizeIterator + Clone + '_ {
        self.entries
            .iter()
            .map(|(n, v)| (&self.buf[n.clone()], &self.buf[v.clone()]))
    }

    /// Adds a header at the end, after any header of the same name.
    pub fn append(&mut self, name: &str, value: &str) {
        let name = self.push_text(name);
        let value = self.push_text(value);
        self.entries.push((name, value));
    }

    /// Sets `name` to `value`: the first header of that name gets the new value and the
    /// others are removed; without one, the header is appended.
    pub fn set(&mut self, name: &str, value: &str) {
        match self.position(name) {
            Some(index) => {
                let range = self.push_text(value);
                self.entries[index].1 = range;
                let mut seen = 0usize;
                let buf = &self.buf;
                self.entries.retain(|(n, _)| {
                    if &buf[n.clone()] == name {
                        seen += 1;
                        seen == 1
                    } else {
                        true
                    }
                });
            }
            None => self.append(name, value),
        }
    }

    /// Sets `name` only when no header of that name exists yet.
    pub fn set_if_absent(&mut self, name: &str, value: &str) {
        if !self.contains(name) {
            self.append(name, value);
        }
    }

    /// Removes every header called `name`; returns true when one was there.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.entries.len();
        let buf = &self.buf;
        self.entries.retain(|(n, _)| &buf[n.clone()] != name);
        before != self.entries.len()
    }

    /// Keeps only the headers for which `keep(name, value)` returns true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        let buf = &self.buf;
        self.entries
            .retain(|(n, v)| keep(&buf[n.clone()], &buf[v.clone()]));
    }

    /// Removes every header.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.entries.clear();
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.entries
            .iter()
            .position(|(n, _)| &self.buf[n.clone()] == name)
    }

    fn push_text(&mut self, text: &str) -> Range<usize> {
        let start = self.buf.len();
        self.buf.push_str(text);
        start..self.buf.len()
    }

    /// The text buffer, for the decoder to unescape straight into it.
    pub(crate) fn text_mut(&mut self) -> &mut String {
        &mut self.buf
    }

    /// Records a header whose name and value the decoder already wrote into the buffer.
    pub(crate) fn push_ranges(&mut self, name: Range<usize>, value: Range<usize>) {
        debug_assert!(name.end <= self.buf.len() && value.end <= self.buf.len());
        self.entries.push((name, value));
    }
}

impl PartialEq for Headers {
    fn eq(&self, other: &Headers) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Headers {}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> FromIterator<(&'a str, &'a str)> for Headers {
    fn from_iter<I: IntoIterator<Item = (&'a str, &'a str)>>(iter: I) -> Headers {
        let mut headers = Headers::new();
        for (name, value) in iter {
            headers.append(name, value);
        }
        headers
    }
}

impl<'a> Extend<(&'a str, &'a str)> for Headers {
    fn extend<I: IntoIterator<Item = (&'a str, &'a str)>>(&mut self, iter: I) {
        for (name, value) in iter {
            self.append(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_repeated_header_wins_and_all_stay_reachable() {
        let mut h = Headers::new();
        h.append("foo", "World");
        h.append("foo", "Hello");
        h.append("bar", "x");
        assert_eq!(h.get("foo"), Some("World"));
        assert_eq!(h.get_all("foo").collect::<Vec<_>>(), ["World", "Hello"]);
        assert_eq!(h.len(), 3);
        assert_eq!(
            h.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            ["foo", "foo", "bar"]
        );
    }

    #[test]
    fn set_replaces_the_first_and_drops_the_rest_in_place() {
        let mut h: Headers = [("a", "1"), ("b", "2"), ("a", "3")].into_iter().collect();
        h.set("a", "9");
        assert_eq!(h.iter().collect::<Vec<_>>(), [("a", "9"), ("b", "2")]);
        h.set("c", "4");
        assert_eq!(h.get("c"), Some("4"));
        assert!(h.remove("a"));
        assert!(!h.remove("a"));
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn equality_ignores_unused_buffer_text() {
        let mut a: Headers = [("x", "old")].into_iter().collect();
        a.set("x", "new");
        let b: Headers = [("x", "new")].into_iter().collect();
        assert_eq!(a, b);
    }
}
