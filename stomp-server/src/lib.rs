//! stomp-server. (Being written.)
