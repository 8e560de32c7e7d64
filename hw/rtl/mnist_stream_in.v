`resetall
`timescale 1ns / 1ps
`default_nettype none

`include "mnist_regmap.vh"

// Image stream receiver: checks the batch framing, writes each image into one
// of two image slots (double buffer, 196 x 32-bit words each) and hands
// complete images to layer 1 in order.
//
// An image is good when all 196 beats arrive with TKEEP = 4'hF and no TLAST
// before its own last beat. At the first framing error the images from the
// broken one on are reported bad (n_good, err_flag), the rest of the stream
// is drained up to TLAST and in_done rises. Extra beats after a complete
// batch (no TLAST on the final beat) keep all N images good.
//
// abort (SOFT_RESET) drops the images held and, if a packet is being received
// or drained, flushes the rest of it: TREADY stays high and beats are
// discarded up to TLAST, or until FLUSH_IDLE_CYCLES pass without a beat (a
// DMA that was reset sends no TLAST).
module mnist_stream_in #(
    parameter FLUSH_IDLE_CYCLES = 512,
    // beats per image: N_IN / 4 = 196; 2..196, fewer only to shorten formal traces
    parameter IMAGE_BEATS = `MNIST_N_IN / (`MNIST_AXIS_DATA_WIDTH / 8),
    // copies of the start pulse (1 to 4): control, img, n_good, rem
    parameter START_COPIES = 1,
    // copies of the abort pulse (1 to 4), the same split
    parameter ABORT_COPIES = 1
) (
    input  wire                                clk,
    input  wire                                rst_n,
    input  wire [ABORT_COPIES-1:0]             abort,       // SOFT_RESET pulse

    input  wire [START_COPIES-1:0]             start,       // batch start, n_images > 0
    input  wire [31:0]                         n_images,

    input  wire [`MNIST_AXIS_DATA_WIDTH-1:0]   s_axis_tdata,
    input  wire [`MNIST_AXIS_DATA_WIDTH/8-1:0] s_axis_tkeep,
    input  wire                                s_axis_tlast,
    input  wire                                s_axis_tvalid,
    output wire                                s_axis_tready,

    // image slots: layer 1 consumes them in order
    output wire                                img_avail,
    input  wire                                img_release,
    input  wire [$clog2(`MNIST_N_IN/4):0]      img_rd_addr,  // {slot, word}
    output wire [`MNIST_AXIS_DATA_WIDTH-1:0]   img_rd_data,

    output wire [3:0]                          err_set,      // ERROR_CAUSE bits, pulse
    output wire                                err_flag,     // images >= n_good are bad
    output wire [31:0]                         n_good,
    output wire                                in_done,      // stream consumed up to TLAST
    output wire                                flushing      // abort: discarding to TLAST
);

localparam DATA_WIDTH = `MNIST_AXIS_DATA_WIDTH;
localparam KEEP_WIDTH = DATA_WIDTH / 8;
localparam BEATS = IMAGE_BEATS;                         // 196 beats per image
localparam BEAT_WIDTH = $clog2(BEATS);
localparam integer LAST_BEAT_INT = BEATS - 1;
localparam [BEAT_WIDTH-1:0] LAST_BEAT = LAST_BEAT_INT[BEAT_WIDTH-1:0];

localparam [1:0] ST_IDLE = 2'd0;
localparam [1:0] ST_RECV = 2'd1;
localparam [1:0] ST_DRAIN = 2'd2;
localparam [1:0] ST_FLUSH = 2'd3;
localparam IDLE_WIDTH = $clog2(FLUSH_IDLE_CYCLES);
localparam integer IDLE_LAST_INT = FLUSH_IDLE_CYCLES - 1;
localparam [IDLE_WIDTH-1:0] IDLE_LAST = IDLE_LAST_INT[IDLE_WIDTH-1:0];

initial begin
    if (IMAGE_BEATS < 2 || IMAGE_BEATS > `MNIST_N_IN / KEEP_WIDTH) begin
        $error("%m: IMAGE_BEATS=%0d must be 2..%0d", IMAGE_BEATS, `MNIST_N_IN / KEEP_WIDTH);
        $finish;
    end
end

(* ram_style = "block" *)
reg [DATA_WIDTH-1:0] mem [0:2*(1<<BEAT_WIDTH)-1];
reg [DATA_WIDTH-1:0] rd_data_reg;

reg [1:0] state_reg = ST_IDLE, state_next;
reg [BEAT_WIDTH-1:0] beat_reg = {BEAT_WIDTH{1'b0}}, beat_next;
reg [31:0] img_reg = 32'd0, img_next;
reg [31:0] rem_reg = 32'd0, rem_next;       // images after the current one
reg wr_slot_reg = 1'b0, wr_slot_next;
reg [1:0] full_reg = 2'd0, full_next;       // complete images waiting in slots
reg tready_reg = 1'b0, tready_next;
reg [3:0] err_set_reg = 4'd0, err_set_next;
reg err_flag_reg = 1'b0, err_flag_next;
reg [31:0] n_good_reg = 32'd0, n_good_next;
reg [IDLE_WIDTH-1:0] idle_reg = {IDLE_WIDTH{1'b0}}, idle_next;  // flush: cycles without a beat

assign s_axis_tready = tready_reg;
assign img_avail = full_reg != 2'd0;
assign img_rd_data = rd_data_reg;
assign err_set = err_set_reg;
assign err_flag = err_flag_reg;
assign n_good = n_good_reg;
assign in_done = state_reg == ST_IDLE;
assign flushing = state_reg == ST_FLUSH;

wire beat_fire = s_axis_tvalid && tready_reg;
wire keep_ok = s_axis_tkeep == {KEEP_WIDTH{1'b1}};
wire end_of_img = beat_reg == LAST_BEAT;
wire final_beat = end_of_img && rem_reg == 32'd0;

// fan-out: the same pulse from up to four flip-flops; the counters are updated
// apart from the state machine so that each gate (start or abort) stays small
wire start_ctl = start[0];
wire start_img = start[START_COPIES > 1 ? 1 : 0];
wire start_good = start[START_COPIES > 2 ? 2 : 0];
wire start_rem = start[START_COPIES-1];
wire abort_ctl = abort[0];
wire abort_img = abort[ABORT_COPIES > 1 ? 1 : 0];
wire abort_good = abort[ABORT_COPIES > 2 ? 2 : 0];
wire abort_rem = abort[ABORT_COPIES-1];
wire recv_beat = state_reg == ST_RECV && beat_fire;
wire img_broken = !keep_ok || (s_axis_tlast && !end_of_img);
wire img_end = !img_broken && end_of_img;
// the batch is cut short (a missing or an early TLAST) at this image's end
wire img_cut = final_beat ? !s_axis_tlast : s_axis_tlast;

always @* begin
    state_next = state_reg;
    beat_next = beat_reg;
    img_next = img_reg;
    rem_next = rem_reg;
    wr_slot_next = wr_slot_reg;
    full_next = full_reg - {1'b0, img_release};
    err_set_next = 4'd0;
    err_flag_next = err_flag_reg;
    n_good_next = n_good_reg;
    idle_next = beat_fire ? {IDLE_WIDTH{1'b0}} : idle_reg + 1'b1;

    if (abort_ctl) begin
        // a packet still open is flushed (an abort while flushing restarts the wait)
        state_next = (state_reg != ST_IDLE && !(beat_fire && s_axis_tlast)) ? ST_FLUSH : ST_IDLE;
        idle_next = {IDLE_WIDTH{1'b0}};
        full_next = 2'd0;
        err_flag_next = 1'b0;
    end else if (start_ctl) begin
        state_next = ST_RECV;
        beat_next = {BEAT_WIDTH{1'b0}};
        wr_slot_next = 1'b0;
        full_next = 2'd0;
        err_flag_next = 1'b0;
    end else if (state_reg == ST_RECV && beat_fire) begin
        err_set_next[`MNIST_ERR_BAD_TKEEP_BIT] = !keep_ok;
        err_set_next[`MNIST_ERR_EARLY_TLAST_BIT] = s_axis_tlast && !final_beat;
        err_set_next[`MNIST_ERR_MISSING_TLAST_BIT] = final_beat && !s_axis_tlast;
        if (!keep_ok || (s_axis_tlast && !end_of_img)) begin
            // this image is broken: it and all later ones are reported bad
            err_flag_next = 1'b1;
            state_next = s_axis_tlast ? ST_IDLE : ST_DRAIN;
        end else if (end_of_img) begin
            full_next = full_next + 2'd1;
            wr_slot_next = !wr_slot_reg;
            beat_next = {BEAT_WIDTH{1'b0}};
            if (final_beat) begin
                if (!s_axis_tlast) begin
                    err_flag_next = 1'b1;
                end
                state_next = s_axis_tlast ? ST_IDLE : ST_DRAIN;
            end else if (s_axis_tlast) begin
                err_flag_next = 1'b1;
                state_next = ST_IDLE;
            end
        end else begin
            beat_next = beat_reg + 1'b1;
        end
    end else if (state_reg == ST_DRAIN && beat_fire && s_axis_tlast) begin
        state_next = ST_IDLE;
    end else if (state_reg == ST_FLUSH && ((beat_fire && s_axis_tlast) || idle_reg == IDLE_LAST)) begin
        state_next = ST_IDLE;
    end

    // the counters: the same branches as above (abort, start, a received beat)
    if (!abort_img && start_img) begin
        img_next = 32'd0;
    end else if (!abort_img && recv_beat && img_end) begin
        img_next = img_reg + 32'd1;
    end
    if (!abort_good && start_good) begin
        n_good_next = 32'd0;
    end else if (!abort_good && recv_beat && img_broken) begin
        n_good_next = img_reg;
    end else if (!abort_good && recv_beat && img_end && img_cut) begin
        n_good_next = img_reg + 32'd1;
    end
    if (!abort_rem && start_rem) begin
        rem_next = n_images - 32'd1;
    end else if (!abort_rem && recv_beat && img_end) begin
        rem_next = rem_reg - 32'd1;
    end

    tready_next = (state_next == ST_RECV && full_next != 2'd2) || state_next == ST_DRAIN
                  || state_next == ST_FLUSH;
end

always @(posedge clk) begin
    if (state_reg == ST_RECV && beat_fire) begin
        mem[{wr_slot_reg, beat_reg}] <= s_axis_tdata;
    end
    rd_data_reg <= mem[img_rd_addr];

    state_reg <= state_next;
    beat_reg <= beat_next;
    img_reg <= img_next;
    rem_reg <= rem_next;
    wr_slot_reg <= wr_slot_next;
    full_reg <= full_next;
    tready_reg <= tready_next;
    err_set_reg <= err_set_next;
    err_flag_reg <= err_flag_next;
    n_good_reg <= n_good_next;
    idle_reg <= idle_next;

    if (!rst_n) begin
        state_reg <= ST_IDLE;
        full_reg <= 2'd0;
        tready_reg <= 1'b0;
        err_set_reg <= 4'd0;
        err_flag_reg <= 1'b0;
    end
end

`ifdef MNIST_FORMAL_STREAM_IN
// ---------------------------------------------------------------- formal (hw/formal)
// Properties of stream_in.sby (k-induction): the image slots never overflow,
// TREADY is low while idle, and err_flag/n_good keep the promise that
// mnist_result_out's proof assumes. s_axis is assumed to follow AXI4-Stream.
reg f_past_valid = 1'b0;
reg f_started = 1'b0;
reg f_aborted = 1'b0;                 // abort since the last start
reg [31:0] f_n = 32'd0;
reg [31:0] f_images = 32'd0;          // complete images handed to the slots this batch

always @(posedge clk) begin
    f_past_valid <= 1'b1;
    if (state_reg == ST_RECV && beat_fire && keep_ok && end_of_img) begin
        f_images <= f_images + 32'd1;
    end
    if (abort) f_aborted <= 1'b1;
    if (start) begin
        f_started <= 1'b1;
        f_aborted <= 1'b0;
        f_n <= n_images;
        f_images <= 32'd0;
    end
end

// the environment
always @* begin
    assume(rst_n == f_past_valid);
    if (start) assume(rst_n && in_done && n_images != 32'd0 && !abort);
    if (img_release) assume(img_avail);
end

always @(posedge clk) begin
    if (f_past_valid && $past(rst_n) && $past(s_axis_tvalid && !s_axis_tready)) begin
        assume(s_axis_tvalid && $stable(s_axis_tdata) && $stable(s_axis_tkeep)
               && $stable(s_axis_tlast));
    end
end

// the properties
always @(posedge clk) begin
    if (f_past_valid && $past(rst_n) && !$past(start) && !$past(abort)) begin
        // err_flag rises once per batch; n_good does not move while it is set
        if ($past(err_flag)) assert(err_flag && $stable(n_good));
    end
    if (f_past_valid && $past(start)) assert(!err_flag);
end

always @* begin
    if (f_past_valid) begin
        // no beat is written into a slot that still holds an image
        assert(full_reg <= 2'd2);
        if (state_reg == ST_RECV && beat_fire) assert(full_reg != 2'd2 || img_release);
        if (state_reg == ST_IDLE) assert(!s_axis_tready);
        if (state_reg == ST_FLUSH) assert(f_aborted);
        if (f_aborted) begin
            assert((state_reg == ST_IDLE || state_reg == ST_FLUSH) && full_reg == 2'd0 && !err_flag);
        end else if (f_started) begin
            assert(f_images <= f_n);
            if (err_flag) assert(n_good == f_images && n_good <= f_n && state_reg != ST_RECV);
            // invariants
            if (state_reg == ST_RECV) begin
                assert(img_reg == f_images && f_images < f_n && rem_reg == f_n - 32'd1 - f_images);
                assert(beat_reg <= LAST_BEAT);
                assert(wr_slot_reg == f_images[0]);
            end
            if (!err_flag) assert(state_reg == ST_RECV || f_images == f_n);
        end else begin
            assert(state_reg == ST_IDLE && !err_flag && full_reg == 2'd0);
        end
    end
end

// SOFT_RESET flush, from the port: it ends at TLAST or after exactly
// FLUSH_IDLE_CYCLES cycles without a beat (counted from the abort or the last
// beat), and an abort landing on a TLAST beat leaves nothing to flush.
reg [15:0] f_quiet = 16'd0;           // cycles since the last beat or abort (saturating)
always @(posedge clk) begin
    if (abort || beat_fire) f_quiet <= 16'd0;
    else if (f_quiet != 16'hFFFF) f_quiet <= f_quiet + 16'd1;
end

always @(posedge clk) begin
    if (f_past_valid && $past(rst_n) && rst_n) begin
        if ($past(abort && beat_fire && s_axis_tlast)) assert(!flushing);
        if ($past(flushing) && !flushing && !$past(abort) && !$past(beat_fire && s_axis_tlast)) begin
            assert($past(f_quiet) == FLUSH_IDLE_CYCLES - 1);
        end
    end
end

always @* begin
    if (f_past_valid && flushing) begin
        assert(f_quiet < FLUSH_IDLE_CYCLES);
        assert({{(16-IDLE_WIDTH){1'b0}}, idle_reg} == f_quiet);  // invariant
    end
end

// the scenarios this harness is about are reachable (stream_in.sby, task cover)
always @* begin
    if (f_past_valid && rst_n) begin
        // both slots full: the source is held off
        cover(full_reg == 2'd2 && s_axis_tvalid && !s_axis_tready && state_reg == ST_RECV);
        // an image boundary inside the batch, and a clean batch of two complete
        cover(recv_beat && img_end && rem_reg != 32'd0 && !img_release);
        cover(in_done && f_started && !f_aborted && !err_flag && f_n == 32'd2 && f_images == 32'd2);
        // each framing error
        cover(recv_beat && s_axis_tlast && end_of_img && rem_reg != 32'd0);  // EARLY_TLAST
        cover(err_set[`MNIST_ERR_EARLY_TLAST_BIT] && !err_set[`MNIST_ERR_BAD_TKEEP_BIT]);
        cover(err_set[`MNIST_ERR_MISSING_TLAST_BIT]);
        cover(err_set[`MNIST_ERR_BAD_TKEEP_BIT] && !s_axis_tlast);
        // SOFT_RESET mid-packet: flushed to TLAST, or ended by the idle timeout
        cover(state_reg == ST_FLUSH && beat_fire && s_axis_tlast && f_images != 32'd0);
        cover(state_reg == ST_FLUSH && idle_reg == IDLE_LAST && !beat_fire);
        // SOFT_RESET in the cycle of the TLAST beat: nothing to flush
        cover(abort && recv_beat && s_axis_tlast);
    end
end
`endif

endmodule

`resetall
