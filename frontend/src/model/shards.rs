//! Spreads tickers over connections so that no connection holds more subscriptions than the
//! API allows (AppSync: 100 by default). A new ticker joins the first connection with room,
//! so a removed ticker's place is reused before another connection is opened; adding or
//! removing one ticker never moves another.

#[derive(Debug, Clone)]
pub struct Shards {
    capacity: usize,
    /// Each connection's symbols: at most `capacity` (100), searched only on add and remove.
    connections: Vec<Vec<String>>,
}

impl Shards {
    pub fn new(capacity: usize) -> Self {
        Shards {
            capacity: capacity.max(1),
            connections: Vec::new(),
        }
    }

    /// Places `symbol`; the index of its connection, or `None` when it is already placed.
    pub fn add(&mut self, symbol: &str) -> Option<usize> {
        if self.connection_of(symbol).is_some() {
            return None;
        }
        let index = match self
            .connections
            .iter()
            .position(|c| c.len() < self.capacity)
        {
            Some(i) => i,
            None => {
                self.connections.push(Vec::new());
                self.connections.len() - 1
            }
        };
        self.connections[index].push(symbol.to_owned());
        Some(index)
    }

    /// Removes `symbol`; the index of the connection it was on.
    pub fn remove(&mut self, symbol: &str) -> Option<usize> {
        let index = self.connection_of(symbol)?;
        self.connections[index].retain(|s| s != symbol);
        Some(index)
    }

    pub fn connection_of(&self, symbol: &str) -> Option<usize> {
        self.connections
            .iter()
            .position(|c| c.iter().any(|s| s == symbol))
    }

    /// Subscriptions on connection `index`.
    pub fn load(&self, index: usize) -> usize {
        self.connections.get(index).map_or(0, Vec::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_connections_up_to_the_limit_and_reuses_freed_places() {
        let mut s = Shards::new(100);
        for i in 0..250 {
            let index = s.add(&format!("S{i}")).unwrap();
            assert_eq!(index, i / 100);
        }
        assert_eq!((s.load(0), s.load(1), s.load(2)), (100, 100, 50));
        assert_eq!(s.add("S7"), None, "already placed");
        assert_eq!(s.remove("S7"), Some(0));
        assert_eq!(s.remove("S7"), None);
        assert_eq!(s.add("NEW"), Some(0), "the freed place on connection 0");
        assert_eq!(s.connection_of("S199"), Some(1), "nothing else moved");
        assert_eq!(s.add("MORE"), Some(2));
    }

    #[test]
    fn a_zero_limit_is_treated_as_one() {
        let mut s = Shards::new(0);
        assert_eq!(s.add("A"), Some(0));
        assert_eq!(s.add("B"), Some(1));
    }
}
