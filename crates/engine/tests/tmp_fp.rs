use tinystudio_engine::ModelView;
use tinystudio_engine::blob::PreparedOp;
#[test]
fn gaps() {
    let blob =
        std::fs::read("/work/wt-fp/target/tmp/firmware/tinystudio/nano33ble/model.tsmb").unwrap();
    let v = ModelView::parse(&blob).unwrap();
    let arena = v.arena_size();
    println!("arena {arena}");
    for i in 0..v.op_count() {
        let op = v.op(i).unwrap();
        let (inp, out) = match op {
            PreparedOp::Conv { input, output, .. }
            | PreparedOp::Depthwise { input, output, .. }
            | PreparedOp::FullyConnected { input, output, .. }
            | PreparedOp::AveragePool { input, output, .. }
            | PreparedOp::Softmax { input, output, .. }
            | PreparedOp::Reshape { input, output } => (input, output),
            _ => continue,
        };
        let a = v.tensor(inp).unwrap().range();
        let b = v.tensor(out).unwrap().range();
        let lo = a.start.min(b.start);
        let hi = a.end.max(b.end);
        let mut gaps = vec![lo, arena - hi];
        if a.end <= b.start {
            gaps.push(b.start - a.end)
        } else if b.end <= a.start {
            gaps.push(a.start - b.end)
        }
        let want = match op {
            PreparedOp::Conv { params: p, .. } => {
                let k = p.window.kernel_h * p.window.kernel_w * p.input.c;
                let kp = k.div_ceil(4) * 4;
                let rec = (kp + 6) * 4;
                let pairs = (16384 / rec).clamp(1, 64).min(p.output.c / 2);
                pairs * rec + kp * 4 + 2 * kp + pairs * 2
            }
            PreparedOp::Depthwise { params: p, .. } => {
                let bw = (p.output.w - 1) * p.window.stride_w + 3;
                let nq = p.input.c / 4;
                let q = (8192 / (3 * bw * 8)).clamp(1, 16).min(nq);
                let rw = q * bw * 2;
                let cap = 2048 / rw;
                let inplace = !(a.end <= b.start || b.end <= a.start);
                let oh = if inplace { 1 } else { p.output.h };
                let ru = cap.min((oh - 1) * p.window.stride_h + 3);
                ru * rw * 4 + q * 120
            }
            _ => 0,
        };
        println!(
            "op {i:2} {} in {:?} out {:?} inplace {} maxgap {} want {}",
            op.name(),
            a,
            b,
            !(a.end <= b.start || b.end <= a.start),
            gaps.iter().max().unwrap(),
            want
        );
    }
}
