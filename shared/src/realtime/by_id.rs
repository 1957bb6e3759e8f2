//! A connection's subscriptions by id, in the order they were added.
//!
//! A connection holds at most a few hundred subscriptions (AppSync allows 100 by default), so
//! a vector searched by id serves every lookup; an ordered map would cost the dashboard's
//! bundle kilobytes of code for each value type, and restarting in the order subscribed is
//! the order a user expects.

#[derive(Debug, Clone)]
pub struct ById<V>(Vec<(String, V)>);

impl<V> Default for ById<V> {
    fn default() -> Self {
        ById(Vec::new())
    }
}

impl<V> ById<V> {
    fn position(&self, id: &str) -> Option<usize> {
        self.0.iter().position(|(k, _)| k == id)
    }

    /// Adds `id`, or replaces its value in place.
    pub fn insert(&mut self, id: String, value: V) {
        match self.position(&id) {
            Some(i) => self.0[i].1 = value,
            None => self.0.push((id, value)),
        }
    }

    pub fn remove(&mut self, id: &str) -> Option<V> {
        self.position(id).map(|i| self.0.remove(i).1)
    }

    pub fn get(&self, id: &str) -> Option<&V> {
        self.position(id).map(|i| &self.0[i].1)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut V> {
        self.position(id).map(|i| &mut self.0[i].1)
    }

    pub fn contains_key(&self, id: &str) -> bool {
        self.position(id).is_some()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|(_, v)| v)
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.0.iter_mut().map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_insertion_order_and_replaces_in_place() {
        let mut m = ById::default();
        m.insert("q2".to_owned(), 2);
        m.insert("q10".to_owned(), 10);
        m.insert("q1".to_owned(), 1);
        m.insert("q10".to_owned(), 11);
        assert_eq!(m.keys().collect::<Vec<_>>(), ["q2", "q10", "q1"]);
        assert_eq!(m.get("q10"), Some(&11));
        assert_eq!(m.remove("q2"), Some(2));
        assert_eq!(m.remove("q2"), None);
        assert!(!m.contains_key("q2"));
        for v in m.values_mut() {
            *v += 100;
        }
        assert_eq!(m.iter().map(|(_, v)| *v).collect::<Vec<_>>(), [111, 101]);
    }
}
