//! `pista serve`: wires storage, the ingest pipeline and every input and output together, and
//! stops them in order. Listeners are bound before anything starts, so a taken port fails fast
//! with a message that says what to do instead.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use pista_broker::{BrokerConfig, BrokerError, EmbeddedBroker};
use pista_ingest::{BrokerGate, Pipeline, PipelineOptions, SubscriberConfig, run_subscriber};
use pista_store::{SqlStore, Storage, StoreError};
use pista_web::{AppState, WebConfig};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::settings::Settings;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "the embedded MQTT broker cannot listen on {addr}: the address is in use \
         (is Mosquitto or another broker running there?)\n\
         \x20 to use that broker instead:  pista serve --mqtt mqtt://{addr}\n\
         \x20 to move the embedded broker: pista serve --broker 127.0.0.1:1884   (or --broker off)"
    )]
    BrokerInUse { addr: SocketAddr },
    #[error(transparent)]
    Broker(BrokerError),
    #[error(
        "the HTTP server cannot listen on {addr}: the address is in use\n\
         \x20 to use another address: pista serve --http 127.0.0.1:8084"
    )]
    HttpInUse { addr: SocketAddr },
    #[error("the HTTP server cannot listen on {addr}: {source}")]
    Http { addr: SocketAddr, source: std::io::Error },
    #[error("cannot read mqtt.ca_file {path}: {source}")]
    CaFile { path: String, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A running server.
pub struct Server {
    pub http_addr: SocketAddr,
    /// The embedded broker's address, when it runs.
    pub broker_addr: Option<SocketAddr>,
    pub pipeline: Pipeline,
    pub store: Arc<dyn Storage>,
    /// Tells the HTTP server and the subscriber to stop.
    shutdown: watch::Sender<bool>,
    http: JoinHandle<()>,
    subscriber: Option<JoinHandle<()>>,
    broker: Option<EmbeddedBroker>,
}

impl Server {
    /// Opens the database named in `settings` and starts.
    pub async fn start(settings: &Settings) -> Result<Self, ServeError> {
        let store = SqlStore::open(&settings.database).await?;
        let database = crate::settings::masked_url(&settings.database);
        tracing::info!(%database, "database ready");
        Self::start_with_store(settings, Arc::new(store)).await
    }

    /// Starts on a given store (tests use this to inject storage faults).
    pub async fn start_with_store(
        settings: &Settings,
        store: Arc<dyn Storage>,
    ) -> Result<Self, ServeError> {
        let http_listener =
            tokio::net::TcpListener::bind(settings.http).await.map_err(|source| {
                match source.kind() {
                    std::io::ErrorKind::AddrInUse => ServeError::HttpInUse { addr: settings.http },
                    _ => ServeError::Http { addr: settings.http, source },
                }
            })?;
        let http_addr = http_listener
            .local_addr()
            .map_err(|source| ServeError::Http { addr: settings.http, source })?;
        let ca_pem = match &settings.mqtt_ca_file {
            Some(path) => Some(std::fs::read(path).map_err(|source| ServeError::CaFile {
                path: path.display().to_string(),
                source,
            })?),
            None => None,
        };

        let (pipeline, _writer) = Pipeline::start(store.clone(), PipelineOptions::default());
        let broker = match settings.broker {
            Some(listen) => Some(start_broker(settings, listen, &pipeline).await?),
            None => None,
        };
        let broker_addr = broker.as_ref().map(EmbeddedBroker::local_addr);
        if let Some(addr) = broker_addr {
            tracing::info!(%addr, "embedded mqtt broker listening");
        }

        let (shutdown, stop) = watch::channel(false);
        let subscriber = settings.mqtt.clone().map(|url| {
            let topics = &settings.base_topics;
            tracing::info!(broker = %url.masked(), ?topics, "subscribing to external mqtt broker");
            let config = SubscriberConfig {
                url,
                ca_pem,
                client_id: settings.mqtt_client_id.clone(),
                topics: settings.base_topics.clone(),
                keep_alive: Duration::from_secs(settings.mqtt_keepalive),
                max_packet_size: settings.broker_max_packet,
            };
            tokio::spawn(run_subscriber(config, pipeline.clone(), stop.clone()))
        });

        let state = AppState { pipeline: pipeline.clone(), store: store.clone() };
        let router = pista_web::router(state, WebConfig { max_body: settings.http_max_body });
        let mut http_stop = stop.clone();
        let http = tokio::spawn(async move {
            let stopped = async move {
                let _ = http_stop.wait_for(|stop| *stop).await;
            };
            if let Err(error) = pista_web::serve(http_listener, router, stopped).await {
                tracing::error!(%error, "http server failed");
            }
        });
        tracing::info!(addr = %http_addr, "http listening");

        Ok(Self { http_addr, broker_addr, pipeline, store, shutdown, http, subscriber, broker })
    }

    /// Stops accepting work, lets open requests and pending acknowledgements finish, and stops.
    /// Everything acknowledged before this returns was committed.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        if let Some(broker) = self.broker {
            broker.shutdown().await;
        }
        if let Some(subscriber) = self.subscriber {
            let _ = subscriber.await;
        }
        let _ = self.http.await;
        tracing::info!("stopped");
    }
}

async fn start_broker(
    settings: &Settings,
    listen: SocketAddr,
    pipeline: &Pipeline,
) -> Result<EmbeddedBroker, ServeError> {
    let config = BrokerConfig { listen, max_packet_size: settings.broker_max_packet as u32 };
    let gate = Arc::new(BrokerGate::new(pipeline.clone(), settings.base_topics.clone()));
    EmbeddedBroker::start(config, gate).await.map_err(|error| {
        if error.is_addr_in_use() {
            ServeError::BrokerInUse { addr: listen }
        } else {
            ServeError::Broker(error)
        }
    })
}
