//! What ports of Node and Flask-SocketIO servers ran into (issue 12), as a
//! client observes it through the in-process TestClient.

use bytes::Bytes;
use serde::Deserialize;
use sockio::{value, Args, Data, SocketIo, TestClient, Value};

fn io() -> SocketIo {
    SocketIo::builder().build().unwrap()
}

#[tokio::test]
async fn binary_survives_in_value_arguments_at_any_depth() {
    #[derive(Deserialize)]
    struct Upload {
        name: String,
        meta: Value,
    }
    let io = io();
    io.on("value", |Data(v): Data<Value>| async move { v });
    io.on(
        "upload",
        |Data(u): Data<Upload>| async move { (u.name, u.meta) },
    );
    io.on("json", |Data(v): Data<serde_json::Value>| async move { v });
    let c = TestClient::connect(&io).await.unwrap();
    let pic = Bytes::from_static(&[0, 159, 146, 150]);

    let sent = value!({"file": pic.clone(), "list": [1, pic.clone()]});
    let ack = c.emit_with_ack("value", &sent).await.unwrap();
    assert_eq!(ack, vec![sent.clone()]);
    assert_eq!(ack[0]["file"], Value::Binary(pic.clone()));
    assert_eq!(ack[0]["list"][1].as_bytes(), Some(&pic));

    let ack = c
        .emit_with_ack("upload", &value!({"name": "a.png", "meta": sent}))
        .await
        .unwrap();
    assert_eq!(ack[0], "a.png");
    assert!(ack[1]["list"][1].is_binary(), "{:?}", ack[1]);

    // serde_json has no binary type: it gets the byte values, documented.
    let ack = c.emit_with_ack("json", &value!({"b": pic})).await.unwrap();
    assert_eq!(ack[0]["b"], value!([0, 159, 146, 150]));
}

#[tokio::test]
async fn value_is_a_dictionary() {
    let io = io();
    io.on("enrich", |Data(mut data): Data<Value>| async move {
        if !data.is_truthy() {
            return value!({"error": "empty"});
        }
        let n = data["n"].as_i64().unwrap_or(0);
        data["n"] = value!(n + 1);
        data.insert("seen", true);
        data.remove("secret");
        data
    });
    io.on(
        "args",
        |Args(args): Args<Vec<Value>>| async move { args.len() },
    );
    let c = TestClient::connect(&io).await.unwrap();
    let ack = c
        .emit_with_ack("enrich", &value!({"n": 1, "secret": "x"}))
        .await
        .unwrap();
    assert_eq!(ack, vec![value!({"n": 2, "seen": true})]);
    let ack = c.emit_with_ack("enrich", &value!({})).await.unwrap();
    assert_eq!(ack, vec![value!({"error": "empty"})]);
    let ack = c.emit_with_ack("args", &(1, "b", [3])).await.unwrap();
    assert_eq!(ack, vec![Value::from(3)]);
}
