//! Boards plugged into the machine that runs the studio: serial
//! connections, what the boards print, classifying on them, flashing them.
//!
//! A project connects to at most one port and a port serves one project.
//! Each open port has a reader thread (serial I/O blocks) that splits what
//! the board prints into lines, reads them with the deploy crate's
//! [`Monitor`] (predictions the board was asked for, and those a camera
//! loop prints unasked) and broadcasts both; the connection keeps the
//! recent lines and the latest predictions for pages and late listeners.
//!
//! The registry lives in this web process: the port is on this machine, so
//! behind a load balancer the board's requests must reach the web server
//! that opened it.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tinystudio_deploy::flash::{self, FlashReport, FlashRequest};
use tinystudio_deploy::{
    ArtifactKind, BoardEvent, BoardOutput, LineReader, Monitor, PortWriter, Ready, frame, serial,
};
use tinystudio_domain::artifacts::firmware_file;
use tinystudio_domain::jobs::run::LabelScore;
use tinystudio_domain::{ModelId, ProjectId, SampleId};
use tinystudio_engine::interpreter::HostRunner;
use tinystudio_storage::blobs::get_checked;
use tinystudio_storage::{BlobKey, models, samples};
use tokio::sync::broadcast;

use super::deploy::{RunInput, deployment};
use crate::{AppError, AppState};

/// Lines a connection keeps for pages and reconnecting listeners.
const RECENT_LINES: usize = 200;

/// Events a slow listener may fall behind by before it misses some.
const CHANNEL: usize = 1024;

/// How long the reader waits for bytes before looking at its stop flag.
const READ_SLICE: Duration = Duration::from_millis(100);

/// How long a board may take to classify, besides the frame's transfer.
const ANSWER_TIME: Duration = Duration::from_secs(10);

/// The longest wait a caller may ask for.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a board may stop taking bytes mid-frame.
const WRITE_STALL: Duration = Duration::from_secs(5);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// One line the board printed.
#[derive(Debug, Clone, Serialize)]
pub struct LineRecord {
    /// Counts lines from the connection's start; the event stream's ids.
    pub seq: u64,
    pub at: i64,
    pub line: String,
}

/// Predictions the board printed, asked for or not.
#[derive(Debug, Clone)]
pub struct Predictions {
    /// The `seq` of the block's `done` line.
    pub seq: u64,
    pub at: i64,
    pub unasked: bool,
    pub output: BoardOutput,
}

/// What a connection tells its listeners.
#[derive(Debug, Clone)]
pub enum LinkEvent {
    Line(LineRecord),
    /// What a line, or the block it ended, meant ([`Monitor`]).
    Board {
        seq: u64,
        at: i64,
        event: BoardEvent,
    },
    /// The connection ended, and why.
    Closed(String),
}

#[derive(Default)]
struct LinkState {
    seq: u64,
    recent: VecDeque<LineRecord>,
    latest: Option<Predictions>,
    ready: Option<Ready>,
    closed: Option<String>,
}

/// An open port and its reader.
pub struct Link {
    pub project: ProjectId,
    /// As the person named it.
    pub port: String,
    /// The device it resolves to, which decides whether two names are one port.
    device: PathBuf,
    pub baud: u32,
    pub connected_at: i64,
    events: broadcast::Sender<LinkEvent>,
    state: Mutex<LinkState>,
    writer: Arc<Mutex<Option<PortWriter>>>,
    /// One frame at a time: a frame's answer is the next one the board prints.
    exchange: tokio::sync::Mutex<()>,
    stop: Arc<AtomicBool>,
    reader: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// A connection as pages and the API show it.
pub struct Snapshot {
    pub lines: Vec<LineRecord>,
    pub latest: Option<Predictions>,
    pub ready: Option<Ready>,
    /// The newest line's `seq` (0 before any).
    pub seq: u64,
}

impl Link {
    /// Listens to everything from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<LinkEvent> {
        self.events.subscribe()
    }

    pub fn snapshot(&self) -> Snapshot {
        let s = lock(&self.state);
        Snapshot {
            lines: s.recent.iter().cloned().collect(),
            latest: s.latest.clone(),
            ready: s.ready.clone(),
            seq: s.seq,
        }
    }

    /// Why the connection ended, once it has.
    pub fn closed(&self) -> Option<String> {
        lock(&self.state).closed.clone()
    }

    fn record(&self, monitor: &mut Monitor, line: String) {
        let at = now_ms();
        let mut s = lock(&self.state);
        s.seq += 1;
        let seq = s.seq;
        let record = LineRecord { seq, at, line };
        if s.recent.len() == RECENT_LINES {
            s.recent.pop_front();
        }
        s.recent.push_back(record.clone());
        let event = monitor.feed(&record.line);
        match &event {
            Some(BoardEvent::Predictions { output, unasked }) => {
                s.latest = Some(Predictions {
                    seq,
                    at,
                    unasked: *unasked,
                    output: output.clone(),
                });
            }
            Some(BoardEvent::Ready(ready)) => s.ready = Some(ready.clone()),
            _ => {}
        }
        // Sent under the state's lock, so a listener that subscribed and
        // then took a snapshot sees every line exactly once.
        let _ = self.events.send(LinkEvent::Line(record));
        if let Some(event) = event {
            let _ = self.events.send(LinkEvent::Board { seq, at, event });
        }
    }

    fn close(&self, why: String) {
        let mut s = lock(&self.state);
        if s.closed.is_none() {
            s.closed = Some(why.clone());
            let _ = self.events.send(LinkEvent::Closed(why));
        }
        drop(s);
        self.stop.store(true, Ordering::SeqCst);
        lock(&self.writer).take();
    }
}

/// A poisoned lock only means another request panicked mid-update; the
/// data (lines, a port handle) is still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The studio's open ports, by project.
#[derive(Default, Clone)]
pub struct Boards {
    links: Arc<Mutex<HashMap<ProjectId, Arc<Link>>>>,
}

/// A port of the machine, and who uses it here.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortView {
    pub path: String,
    pub kind: &'static str,
    pub description: String,
    /// `"this project"`, `"another project"`, or none.
    pub in_use: Option<&'static str>,
}

fn device_of(port: &str) -> PathBuf {
    std::fs::canonicalize(port).unwrap_or_else(|_| PathBuf::from(port))
}

/// Serial and flashing errors as the API answers them.
pub fn board_error(e: tinystudio_deploy::Error) -> AppError {
    use tinystudio_deploy::Error as E;
    let message = e.to_string();
    match e {
        E::PortNotFound { .. } => AppError::NotFound(message),
        E::PortPermission { .. } => AppError::Forbidden(message),
        E::BadBaud(_) | E::NotASerialPort { .. } | E::NotFlashable(_) | E::UnknownBoard(_) => {
            AppError::BadRequest(message)
        }
        E::PortBusy { .. }
        | E::Serial { .. }
        | E::Timeout { .. }
        | E::Board(_)
        | E::ToolMissing(_)
        | E::NoBoard(_)
        | E::FlashFailed { .. } => AppError::Conflict(message),
        _ => AppError::Internal(message),
    }
}

impl Boards {
    /// The project's connection, if it has one.
    pub fn get(&self, project: ProjectId) -> Option<Arc<Link>> {
        lock(&self.links).get(&project).cloned()
    }

    /// The project's connection, or the error that says to connect first.
    pub fn connected(&self, project: ProjectId) -> Result<Arc<Link>, AppError> {
        self.get(project).ok_or_else(|| {
            AppError::Conflict(
                "no board is connected to this project: connect one first (POST .../board/connect with {\"port\": ...})"
                    .into(),
            )
        })
    }

    /// The machine's ports, and which of them this studio has open.
    pub async fn ports(&self, project: ProjectId) -> Result<Vec<PortView>, AppError> {
        let ports = tokio::task::spawn_blocking(serial::list_ports)
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?
            .map_err(board_error)?;
        let links: Vec<Arc<Link>> = lock(&self.links).values().cloned().collect();
        let mut views: Vec<PortView> = ports
            .into_iter()
            .map(|p| {
                let device = device_of(&p.path);
                let owner = links.iter().find(|l| l.device == device);
                PortView {
                    in_use: owner.map(|l| {
                        if l.project == project {
                            "this project"
                        } else {
                            "another project"
                        }
                    }),
                    path: p.path,
                    kind: p.kind,
                    description: p.description,
                }
            })
            .collect();
        // A named port (a pseudo-terminal) is open but never listed.
        for l in links {
            if !views.iter().any(|v| device_of(&v.path) == l.device) {
                views.push(PortView {
                    path: l.port.clone(),
                    kind: "other",
                    description: "named port".into(),
                    in_use: Some(if l.project == project {
                        "this project"
                    } else {
                        "another project"
                    }),
                });
            }
        }
        Ok(views)
    }

    /// Opens `port` for the project and starts reading it. Connecting again
    /// to the port it already has answers with that connection.
    pub async fn connect(
        &self,
        project: ProjectId,
        port: &str,
        baud: Option<u32>,
    ) -> Result<Arc<Link>, AppError> {
        let port = port.trim().to_owned();
        if port.is_empty() {
            return Err(AppError::BadRequest(
                "name the port to connect (\"port\": e.g. /dev/ttyACM0 or /dev/pts/3; GET .../board/ports lists this machine's)".into(),
            ));
        }
        let baud = baud.unwrap_or(serial::DEFAULT_BAUD);
        serial::check_baud(baud).map_err(board_error)?;
        let device = device_of(&port);
        {
            let links = lock(&self.links);
            if let Some(l) = links.get(&project) {
                if l.device == device && l.baud == baud {
                    return Ok(l.clone());
                }
                return Err(AppError::Conflict(format!(
                    "this project is connected to {} at {} baud: disconnect first",
                    l.port, l.baud
                )));
            }
            if links.values().any(|l| l.device == device) {
                return Err(AppError::Conflict(format!(
                    "{port} is in use: another project of this studio is connected to it"
                )));
            }
        }
        let name = port.clone();
        let (reader, writer) = tokio::task::spawn_blocking(move || serial::open(&name, baud))
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?
            .map_err(board_error)?;
        let (events, _) = broadcast::channel(CHANNEL);
        let link = Arc::new(Link {
            project,
            port,
            device,
            baud,
            connected_at: now_ms(),
            events,
            state: Mutex::default(),
            writer: Arc::new(Mutex::new(Some(writer))),
            exchange: tokio::sync::Mutex::new(()),
            stop: Arc::new(AtomicBool::new(false)),
            reader: Mutex::new(None),
        });
        {
            let mut links = lock(&self.links);
            if links.contains_key(&project) {
                // Another request connected this project meanwhile; ours closes.
                return Err(AppError::Conflict(
                    "this project connected to a board meanwhile: disconnect first".into(),
                ));
            }
            links.insert(project, link.clone());
        }
        let handle = std::thread::Builder::new()
            .name(format!("board-{}", link.port))
            .spawn({
                let link = link.clone();
                let boards = self.clone();
                move || read_loop(boards, link, reader)
            })
            .map_err(|e| {
                link.close(format!("no reader thread: {e}"));
                self.forget(&link);
                AppError::Internal(format!("starting the port's reader: {e}"))
            })?;
        *lock(&link.reader) = Some(handle);
        tracing::info!(project.id = %project, port = %link.port, baud, "board connected");
        Ok(link)
    }

    /// Closes the project's port; when this returns, other programs (a
    /// flashing tool) can open it.
    pub async fn disconnect(&self, project: ProjectId) -> Result<Arc<Link>, AppError> {
        let link = lock(&self.links)
            .remove(&project)
            .ok_or_else(|| AppError::Conflict("no board is connected to this project".into()))?;
        link.close("disconnected".into());
        let reader = lock(&link.reader).take();
        if let Some(reader) = reader {
            let _ = tokio::task::spawn_blocking(move || reader.join()).await;
        }
        tracing::info!(project.id = %project, port = %link.port, "board disconnected");
        Ok(link)
    }

    fn forget(&self, link: &Arc<Link>) {
        let mut links = lock(&self.links);
        if links
            .get(&link.project)
            .is_some_and(|l| Arc::ptr_eq(l, link))
        {
            links.remove(&link.project);
        }
    }

    /// Whether this studio holds `port` open.
    pub fn holds(&self, port: &str) -> Option<Arc<Link>> {
        let device = device_of(port);
        lock(&self.links)
            .values()
            .find(|l| l.device == device)
            .cloned()
    }
}

fn read_loop(boards: Boards, link: Arc<Link>, mut reader: LineReader) {
    let mut monitor = Monitor::default();
    while !link.stop.load(Ordering::SeqCst) {
        match reader.poll(READ_SLICE) {
            Ok(lines) => {
                for line in lines {
                    link.record(&mut monitor, line);
                }
            }
            Err(e) => {
                tracing::warn!(port = %link.port, error = %e, "board connection lost");
                link.close(e.to_string());
                boards.forget(&link);
                return;
            }
        }
    }
}

/// A test sample as an image to send.
pub async fn sample_input(
    state: &AppState,
    project: ProjectId,
    sample: SampleId,
) -> Result<RunInput, AppError> {
    let s = samples::get(&state.db, project, sample).await?;
    let bytes = state
        .blobs
        .get(&BlobKey::sample(&s.sha256)?)
        .await?
        .ok_or_else(|| AppError::Internal(format!("blob of sample {} is missing", s.id)))?;
    Ok(RunInput {
        image: bytes.to_vec(),
        name: Some(s.file_name),
        label: s.label,
    })
}

/// One image classified by the connected board, beside the host engine's
/// answer for the same pixels.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BoardRun {
    pub port: String,
    pub model_id: ModelId,
    pub model_version: i64,
    pub input_name: Option<String>,
    pub true_label: Option<String>,
    /// The board's answer, as printed.
    pub lines: Vec<String>,
    pub scores: Vec<LabelScore>,
    pub predicted: Option<String>,
    /// The board's int8 output tensor.
    pub raw: Vec<i8>,
    pub host_raw: Vec<i8>,
    pub host_scores: Vec<LabelScore>,
    pub host_predicted: Option<String>,
    pub matches_host: bool,
    /// The board's own timings, at its clock.
    pub dsp_ms: u64,
    pub classification_ms: u64,
    /// Instructions of the inference, on the emulated board.
    pub instructions: Option<u64>,
    /// From sending the frame to the answer's last line, here.
    pub round_trip_ms: f64,
}

fn top(scores: &[LabelScore]) -> Option<String> {
    scores
        .iter()
        .max_by(|a, b| a.score.total_cmp(&b.score))
        .map(|s| s.label.clone())
}

/// Sends `input` to the project's board, preprocessed with the model's
/// impulse as the studio does everywhere, waits for its answer (at most
/// `timeout`, by default long enough for the frame at the port's baud rate
/// plus ten seconds) and runs the host engine on the same pixels.
///
/// The answer is the first one the board prints after the frame left (the
/// protocol carries no frame number): a board that answers a frame only
/// after its request timed out hands that late answer to the next frame.
/// The default timeout is generous for that reason.
pub async fn classify(
    state: &AppState,
    project: ProjectId,
    model: ModelId,
    input: RunInput,
    timeout: Option<Duration>,
) -> Result<BoardRun, AppError> {
    let link = state.boards.connected(project)?;
    let model = models::get(&state.db, project, model).await?;
    let impulse = models::impulse_of(&state.db, &model).await?;
    let blob = super::model_blob(state, &model).await?;
    if input.image.is_empty() {
        return Err(AppError::BadRequest(
            "send an image as the request body, or name a test sample (sampleId)".into(),
        ));
    }
    let limits = state.config.decode;
    let image = input.image;
    let pixels = tokio::task::spawn_blocking(move || {
        tinystudio_images::decode(&image, &limits)
            .map(|d| {
                tinystudio_images::preprocess(&d.image, &impulse.input, impulse.image.color_depth)
            })
            .map_err(|e| AppError::BadRequest(format!("the image: {e}")))
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))??;
    if let Some(ready) = link.snapshot().ready
        && ready.input_len() != pixels.len()
    {
        return Err(AppError::Conflict(format!(
            "the board's firmware takes {}x{}x{} pixels, model v{} takes {} bytes: flash a build of this model",
            ready.input[0],
            ready.input[1],
            ready.input[2],
            model.version,
            pixels.len()
        )));
    }

    let frame = frame(&pixels);
    let timeout = match timeout {
        Some(t) => t.min(MAX_TIMEOUT),
        None => {
            let transfer =
                Duration::from_secs_f64(frame.len() as f64 * 10.0 / f64::from(link.baud));
            (ANSWER_TIME + transfer).min(MAX_TIMEOUT)
        }
    };
    let (output, round_trip_ms) = {
        let _turn = link.exchange.lock().await;
        let mut events = link.subscribe();
        if let Some(why) = link.closed() {
            return Err(AppError::Conflict(format!(
                "the board's connection ended: {why}"
            )));
        }
        let started = Instant::now();
        let writer = link.writer.clone();
        tokio::task::spawn_blocking(move || match lock(&writer).as_mut() {
            Some(w) => w.write_all(&frame, WRITE_STALL),
            None => Err(tinystudio_deploy::Error::Serial {
                path: String::new(),
                what: "the connection was closed".into(),
            }),
        })
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
        .map_err(board_error)?;
        let answer = tokio::time::timeout(timeout, async {
            loop {
                match events.recv().await {
                    Ok(LinkEvent::Board { event, .. }) if event.is_answer() => return Ok(event),
                    Ok(LinkEvent::Closed(why)) => {
                        return Err(AppError::Conflict(format!(
                            "the board's connection ended while it classified: {why}"
                        )));
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => {
                        return Err(AppError::Conflict("the board's connection ended".into()));
                    }
                }
            }
        })
        .await
        .map_err(|_| {
            AppError::Conflict(format!(
                "the board on {} did not answer within {:.1} s: is it running TinyStudio firmware (it prints `ready:` at reset), at {} baud?",
                link.port,
                timeout.as_secs_f64(),
                link.baud
            ))
        })??;
        let round_trip_ms = started.elapsed().as_secs_f64() * 1000.0;
        let output = match answer {
            BoardEvent::Predictions { output, .. } => output,
            BoardEvent::Error { message, .. } => {
                return Err(AppError::Conflict(format!(
                    "the board refused the frame: {message}"
                )));
            }
            BoardEvent::Panic(line) => {
                return Err(AppError::Conflict(format!(
                    "the board's firmware stopped: {line}"
                )));
            }
            BoardEvent::Garbled(why) => {
                return Err(AppError::Conflict(format!(
                    "the board's answer could not be read: {why}"
                )));
            }
            BoardEvent::Ready(_) => unreachable!("a ready line answers nothing"),
        };
        (output, round_trip_ms)
    };

    let labels = model.labels.clone();
    let (host_raw, host_scores) = tokio::task::spawn_blocking(move || {
        let mut runner = HostRunner::new(blob.to_vec())?;
        let (scale, zero) = {
            let view = runner.view()?;
            let out = view.output()?;
            (out.scale, out.zero_point)
        };
        let raw = runner.run_pixels(&pixels)?;
        let scores: Vec<LabelScore> = labels
            .iter()
            .zip(&raw)
            .map(|(label, &q)| LabelScore {
                label: label.clone(),
                score: (q as i32 - zero) as f32 * scale,
            })
            .collect();
        Ok::<_, tinystudio_engine::Error>((raw, scores))
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))?
    .map_err(|e| AppError::Internal(format!("host engine: {e}")))?;

    let scores: Vec<LabelScore> = output
        .scores
        .iter()
        .map(|(label, score)| LabelScore {
            label: label.clone(),
            score: *score,
        })
        .collect();
    Ok(BoardRun {
        port: link.port.clone(),
        model_id: model.id,
        model_version: model.version,
        input_name: input.name,
        true_label: input.label,
        predicted: top(&scores),
        host_predicted: top(&host_scores),
        matches_host: output.raw == host_raw,
        instructions: output.instructions(),
        dsp_ms: output.dsp_ms,
        classification_ms: output.classification_ms,
        lines: output.lines,
        scores,
        raw: output.raw,
        host_raw,
        host_scores,
        round_trip_ms,
    })
}

/// Where the person said the board is, for flashing.
#[derive(Debug, Clone, Default)]
pub struct FlashTarget {
    pub port: Option<String>,
    pub drive: Option<String>,
}

/// Flashes a finished build onto a board plugged into this machine, with
/// the board's own tool (see `tinystudio_deploy::flash`).
pub async fn flash(
    state: &AppState,
    project: ProjectId,
    deployment_raw: &str,
    target: FlashTarget,
) -> Result<FlashReport, AppError> {
    let (job, output) = deployment(state, project, deployment_raw).await?;
    let board = tinystudio_deploy::board(&output.board)
        .ok_or_else(|| AppError::Internal(format!("build for unknown board {}", output.board)))?;
    if flash::methods(board).is_empty() {
        return Err(board_error(tinystudio_deploy::Error::NotFlashable(
            if board.emulated {
                format!(
                    "{} is emulated: it runs under QEMU, there is nothing to flash (run it from the Builds list instead)",
                    board.name
                )
            } else {
                format!("the studio cannot flash {} itself", board.name)
            },
        )));
    }
    let port = target.port.filter(|p| !p.trim().is_empty());
    if let Some(p) = &port
        && let Some(link) = state.boards.holds(p)
    {
        return Err(AppError::Conflict(format!(
            "the studio is connected to {}: disconnect first, the flashing tool needs the port",
            link.port
        )));
    }
    let dir = tempfile::tempdir().map_err(|e| AppError::Internal(e.to_string()))?;
    let mut files = Vec::new();
    for kind in board.artifacts {
        let name = firmware_file(kind.extension());
        if !output.has_artifact(&name) {
            continue;
        }
        let bytes = get_checked(
            state.blobs.as_ref(),
            &BlobKey::artifact(&job.id.to_string(), &name)?,
            output.artifact_sha256(&name),
        )
        .await?
        .ok_or_else(|| AppError::Internal(format!("artifact {name} of {} is missing", job.id)))?;
        let path = dir.path().join(&name);
        tokio::fs::write(&path, &bytes)
            .await
            .map_err(|e| AppError::Internal(format!("writing {name}: {e}")))?;
        files.push((*kind, path));
    }
    if !files.iter().any(|(k, _)| *k == ArtifactKind::Elf) {
        return Err(AppError::Internal(format!("build {} has no ELF", job.id)));
    }
    let request = FlashRequest {
        files,
        port,
        drive: target
            .drive
            .filter(|d| !d.trim().is_empty())
            .map(PathBuf::from),
    };
    let config = state.config.flash.clone();
    let report = tokio::task::spawn_blocking(move || {
        let report = flash::flash(&config, board, &request);
        drop(dir);
        report
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))?
    .map_err(board_error)?;
    tracing::info!(project.id = %project, deployment.id = %job.id, method = report.method.name(), "flashed");
    Ok(report)
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use tinystudio_deploy::Error as E;

    use super::board_error;

    #[test]
    fn serial_and_flashing_errors_are_client_errors() {
        let status = |e: E| board_error(e).status();
        let path = || "/dev/ttyACM0".to_owned();
        assert_eq!(
            status(E::PortNotFound {
                path: path(),
                available: "none".into()
            }),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            status(E::PortPermission { path: path() }),
            StatusCode::FORBIDDEN
        );
        assert_eq!(status(E::PortBusy { path: path() }), StatusCode::CONFLICT);
        assert_eq!(status(E::BadBaud(0)), StatusCode::BAD_REQUEST);
        assert_eq!(
            status(E::NotASerialPort {
                path: path(),
                why: "not a terminal device".into()
            }),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(E::ToolMissing("bossac is not installed".into())),
            StatusCode::CONFLICT
        );
        assert_eq!(status(E::NoBoard("no probe".into())), StatusCode::CONFLICT);
        assert_eq!(
            status(E::NotFlashable("emulated".into())),
            StatusCode::BAD_REQUEST
        );
    }
}
