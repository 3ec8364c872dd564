//! Handler concurrency (Node's model by default, Flask-SocketIO's
//! `async_handlers=False` as an option) and the per-socket bounds.

use std::sync::Arc;
use std::time::Duration;

use sockio::{AckError, Data, Socket, SocketIo, TestClient, TestClientError, Value};
use tokio::sync::Notify;

const QUIET: Duration = Duration::from_millis(300);

#[tokio::test]
async fn a_waiting_handler_delays_nothing_by_default() {
    let io = SocketIo::builder().build().unwrap();
    let gate = Arc::new(Notify::new());
    let g = gate.clone();
    io.on("slow", move || {
        let g = g.clone();
        async move {
            g.notified().await;
            "slow done"
        }
    });
    io.on("fast", || async { "fast done" });
    let c = TestClient::connect(&io).await.unwrap();
    let c2 = Arc::new(c);
    let slow = {
        let c = c2.clone();
        tokio::spawn(async move { c.emit_with_ack("slow", &()).await })
    };
    // The fast event, sent after the slow one, is answered while the slow
    // handler still waits.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        c2.emit_with_ack("fast", &()).await.unwrap(),
        vec![Value::from("fast done")]
    );
    assert!(!slow.is_finished());
    gate.notify_one();
    assert_eq!(slow.await.unwrap().unwrap(), vec![Value::from("slow done")]);
}

#[tokio::test]
async fn serialized_handlers_wait_for_each_other() {
    let io = SocketIo::builder().async_handlers(false).build().unwrap();
    let gate = Arc::new(Notify::new());
    let g = gate.clone();
    io.on("slow", move || {
        let g = g.clone();
        async move {
            g.notified().await;
            "slow done"
        }
    });
    io.on("fast", || async { "fast done" });
    let c = Arc::new(TestClient::connect(&io).await.unwrap());
    let slow = {
        let c = c.clone();
        tokio::spawn(async move { c.emit_with_ack("slow", &()).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let fast = {
        let c = c.clone();
        tokio::spawn(async move { c.emit_with_ack("fast", &()).await })
    };
    tokio::time::sleep(QUIET).await;
    assert!(!fast.is_finished(), "fast waits behind slow");
    gate.notify_one();
    assert_eq!(slow.await.unwrap().unwrap(), vec![Value::from("slow done")]);
    assert_eq!(fast.await.unwrap().unwrap(), vec![Value::from("fast done")]);
}

#[tokio::test]
async fn handlers_start_in_arrival_order() {
    let io = SocketIo::builder().build().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    io.on("n", move |Data(n): Data<u32>| {
        let seen = s2.clone();
        async move {
            seen.lock().unwrap().push(n);
            tokio::task::yield_now().await;
        }
    });
    let c = TestClient::connect(&io).await.unwrap();
    for n in 0..200 {
        c.emit("n", &n).await.unwrap();
    }
    c.emit_with_ack("n", &200).await.unwrap();
    assert_eq!(*seen.lock().unwrap(), (0..=200).collect::<Vec<_>>());
}

/// The case: many handlers waiting for client acks that never come
/// are all answered after about one ack timeout, not one per timeout.
#[tokio::test]
async fn unanswered_server_acks_time_out_together() {
    let io = SocketIo::builder()
        .ack_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    io.on("request-ack", |s: Socket| async move {
        match s.emit_with_ack("ack-request", &()).await {
            Ok(_) => "answered",
            Err(_) => "timeout",
        }
    });
    let c = Arc::new(TestClient::connect(&io).await.unwrap());
    let n = 100;
    let mut waits = Vec::new();
    for _ in 0..n {
        let c = c.clone();
        waits.push(tokio::spawn(async move {
            c.emit_with_ack_timeout("request-ack", &(), Duration::from_secs(10))
                .await
        }));
    }
    // Serialized, 100 × 200 ms = 20 s would pass the 10 s each waits.
    for w in waits {
        assert_eq!(w.await.unwrap().unwrap(), vec![Value::from("timeout")]);
    }
    assert!(io.stats().acks_timed_out >= n);
}

#[tokio::test]
async fn pending_server_acks_are_bounded_per_socket() {
    let io = SocketIo::builder().max_pending_acks(2).build().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    io.on_connect(move |s: Socket| {
        let tx = tx.clone();
        async move {
            tokio::spawn(async move {
                let mut r = Vec::new();
                for _ in 0..3 {
                    let s = s.clone();
                    r.push(tokio::spawn(async move {
                        s.timeout(Duration::from_secs(5))
                            .emit_with_ack("q", &())
                            .await
                    }));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                for h in r {
                    let _ = tx.send(h.await.unwrap());
                }
            });
        }
    });
    let c = TestClient::connect(&io).await.unwrap();
    // The third request is refused at once; answer the first two.
    let a = c.recv().await.unwrap();
    let b = c.recv().await.unwrap();
    assert!(
        c.recv_nothing(QUIET).await.is_none(),
        "the third is not sent"
    );
    c.ack(&a, "1").unwrap();
    c.ack(&b, "2").unwrap();
    let mut rx = rx;
    let mut results = Vec::new();
    for _ in 0..3 {
        results.push(rx.recv().await.unwrap());
    }
    assert!(results[0].is_ok());
    assert!(results[1].is_ok());
    assert!(matches!(results[2], Err(AckError::TooManyPending)));
    assert_eq!(io.stats().acks_refused_too_many, 1);
}

#[tokio::test]
async fn namespaces_per_connection_are_bounded() {
    let io = SocketIo::builder()
        .max_namespaces_per_connection(2)
        .build()
        .unwrap();
    io.of("/a");
    io.of("/b");
    let c = TestClient::connect(&io).await.unwrap();
    c.connect_namespace("/a", None).await.unwrap();
    let refused = c.connect_namespace("/b", None).await;
    let Err(TestClientError::Refused(data)) = refused else {
        panic!("refused expected: {refused:?}")
    };
    assert_eq!(data["message"], "too many namespaces");
    assert_eq!(io.stats().connect_refused_too_many_namespaces, 1);
    // The connection still works.
    c.disconnect_namespace("/a").unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    c.connect_namespace("/b", None).await.unwrap();
}
