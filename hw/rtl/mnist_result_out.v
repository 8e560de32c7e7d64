`resetall
`timescale 1ns / 1ps
`default_nettype none

`include "mnist_regmap.vh"

// Result stream: a FIFO decouples layer 2 from m_axis backpressure. Records
// of good images come from the FIFO; once the receiver has flagged a framing
// error, records from n_good on are generated here (logits 0, both digits
// 0xF, ERROR set), so every batch emits exactly N*11 words ending in TLAST.
//
// abort (SOFT_RESET) drops the batch. A packet already under way is closed
// cleanly: a beat on offer stays until TREADY (AXI4-Stream), then, unless it
// carried TLAST, one terminator beat (an error record word, TLAST) follows. If
// the consumer takes nothing for FLUSH_IDLE_CYCLES after the abort (its DMA
// was reset), the pending beat is withdrawn: the consumer is gone.
module mnist_result_out #(
    // FIFO words; >= 2 * 11 so layer 2 can start while the previous image drains
    parameter FIFO_DEPTH = 32,
    parameter FLUSH_IDLE_CYCLES = 512,
    // copies of the start pulse (1 or 2): the last one loads the record counter
    parameter START_COPIES = 1
) (
    input  wire                                clk,
    input  wire                                rst_n,
    input  wire                                abort,       // SOFT_RESET pulse
    input  wire [START_COPIES-1:0]             start,       // batch start, n_images > 0
    input  wire [31:0]                         n_images,

    input  wire                                res_valid,
    input  wire [31:0]                         res_data,
    output wire                                res_room,

    input  wire                                err_flag,
    input  wire [31:0]                         n_good,

    output wire [`MNIST_AXIS_DATA_WIDTH-1:0]   m_axis_tdata,
    output wire [`MNIST_AXIS_DATA_WIDTH/8-1:0] m_axis_tkeep,
    output wire                                m_axis_tlast,
    output wire                                m_axis_tvalid,
    input  wire                                m_axis_tready,

    output wire [31:0]                         images_done,
    output wire                                last_beat,   // pulse: final beat accepted
    output wire                                out_done,
    output wire                                flushing     // abort: closing the packet
);

localparam DATA_WIDTH = `MNIST_AXIS_DATA_WIDTH;
localparam KEEP_WIDTH = DATA_WIDTH / 8;
localparam PTR_WIDTH = $clog2(FIFO_DEPTH);
localparam WORDS = `MNIST_RESULT_WORDS_PER_IMAGE;
localparam integer LAST_WORD_INT = WORDS - 1;
localparam [3:0] LAST_WORD = LAST_WORD_INT[3:0];
localparam integer ROOM_LIMIT_INT = FIFO_DEPTH - WORDS;
localparam [PTR_WIDTH:0] ROOM_LIMIT = ROOM_LIMIT_INT[PTR_WIDTH:0];
localparam WAIT_WIDTH = $clog2(FLUSH_IDLE_CYCLES);
localparam integer WAIT_LAST_INT = FLUSH_IDLE_CYCLES - 1;
localparam [WAIT_WIDTH-1:0] WAIT_LAST = WAIT_LAST_INT[WAIT_WIDTH-1:0];

initial begin
    if (FIFO_DEPTH < 2 * WORDS || (1 << PTR_WIDTH) != FIFO_DEPTH) begin
        $error("%m: FIFO_DEPTH=%0d must be a power of two >= %0d", FIFO_DEPTH, 2 * WORDS);
        $finish;
    end
end

(* ram_style = "distributed" *)
reg [31:0] fifo_mem [0:FIFO_DEPTH-1];
reg [PTR_WIDTH-1:0] wr_ptr_reg = {PTR_WIDTH{1'b0}}, wr_ptr_next;
reg [PTR_WIDTH-1:0] rd_ptr_reg = {PTR_WIDTH{1'b0}}, rd_ptr_next;
reg [PTR_WIDTH:0] count_reg = {(PTR_WIDTH+1){1'b0}}, count_next;
reg room_reg = 1'b0, room_next;

reg active_reg = 1'b0, active_next;          // words of this batch still to load
reg [3:0] ld_word_reg = 4'd0, ld_word_next;
reg [31:0] ld_rec_reg = 32'd0, ld_rec_next;
reg [31:0] ld_rem_reg = 32'd0, ld_rem_next;  // records after the one being loaded

reg tvalid_reg = 1'b0, tvalid_next;
reg [31:0] tdata_reg = 32'd0, tdata_next;
reg tlast_reg = 1'b0, tlast_next;
reg tw10_reg = 1'b0, tw10_next;
reg [31:0] images_done_reg = 32'd0, images_done_next;
reg last_beat_reg = 1'b0, last_beat_next;
reg out_done_reg = 1'b1, out_done_next;
// One cycle behind ld_rec/err_flag: the FIFO never holds records >= n_good, so a
// stale 0 only waits a cycle, and once set it stays set until START.
reg use_err_reg = 1'b0, use_err_next;
reg open_reg = 1'b0, open_next;              // a packet is under way (beats offered, no TLAST yet)
reg aborted_reg = 1'b0, aborted_next;
reg term_reg = 1'b0, term_next;              // the terminator beat is still to be offered
reg [WAIT_WIDTH-1:0] wait_reg = {WAIT_WIDTH{1'b0}}, wait_next;  // aborted: cycles without TREADY

assign res_room = room_reg;
assign m_axis_tdata = tdata_reg;
assign m_axis_tkeep = {KEEP_WIDTH{1'b1}};
assign m_axis_tlast = tlast_reg;
assign m_axis_tvalid = tvalid_reg;
assign images_done = images_done_reg;
assign last_beat = last_beat_reg;
assign out_done = out_done_reg;
assign flushing = aborted_reg && (tvalid_reg || term_reg);

wire fifo_empty = count_reg == {(PTR_WIDTH+1){1'b0}};
wire [31:0] images_done_inc = images_done_reg + 32'd1;
wire beat_fire = tvalid_reg && m_axis_tready;
wire out_free = !tvalid_reg || m_axis_tready;
wire load = active_reg && (use_err_reg || !fifo_empty) && out_free;
// load again from a copy of active_reg: the output word's 32 enables on a net of their
// own. The copy folds the reset into its D input: a plain flip-flop keeps its KEEP
// through synthesis, while Yosys rebuilds one with a reset branch and merges it.
(* keep = "true" *) reg active_data_reg = 1'b0;
wire load_data = active_data_reg && (use_err_reg || !fifo_empty) && out_free;
wire pop = load && !use_err_reg;
wire ld_w10 = ld_word_reg == LAST_WORD;
// fan-out: the same pulse from two flip-flops, ~40 and ~35 loads
wire start_ctl = start[0];
wire start_rem = start[START_COPIES-1];
// ld_w10 again, registered apart so that ld_rem's enable is a net of its own
(* keep = "true" *) reg ld_w10_rem_reg = 1'b0;

wire [31:0] err_word = (32'd1 << `MNIST_RESULT_ERROR_LSB)
                     | ({16'd0, ld_rec_reg[15:0]} << `MNIST_RESULT_INDEX_LSB)
                     | (32'h0000000F << `MNIST_RESULT_SEED_DIGIT_LSB)
                     | (32'h0000000F << `MNIST_RESULT_DIGIT_LSB);

always @* begin
    wr_ptr_next = wr_ptr_reg + {{(PTR_WIDTH-1){1'b0}}, res_valid};
    rd_ptr_next = rd_ptr_reg + {{(PTR_WIDTH-1){1'b0}}, pop};
    count_next = count_reg + {{PTR_WIDTH{1'b0}}, res_valid} - {{PTR_WIDTH{1'b0}}, pop};
    active_next = active_reg;
    ld_word_next = ld_word_reg;
    ld_rec_next = ld_rec_reg;
    ld_rem_next = ld_rem_reg;
    tvalid_next = tvalid_reg && !m_axis_tready;
    tdata_next = tdata_reg;
    tlast_next = tlast_reg;
    tw10_next = tw10_reg;
    // TREADY only selects: the increment is computed from registers alone
    images_done_next = (beat_fire && tw10_reg) ? images_done_inc : images_done_reg;
    last_beat_next = beat_fire && tlast_reg;
    out_done_next = out_done_reg || (beat_fire && tlast_reg);
    use_err_next = err_flag && ld_rec_reg >= n_good;
    open_next = (open_reg || load) && !(beat_fire && tlast_reg);
    aborted_next = aborted_reg;
    term_next = term_reg;
    wait_next = beat_fire ? {WAIT_WIDTH{1'b0}} : wait_reg + 1'b1;

    if (term_reg && out_free) begin
        tvalid_next = 1'b1;
        tdata_next = err_word;
        tlast_next = 1'b1;
        tw10_next = 1'b0;
        term_next = 1'b0;
    end

    if (load) begin
        tvalid_next = 1'b1;
        tlast_next = ld_w10 && ld_rem_reg == 32'd0;
        tw10_next = ld_w10;
        if (ld_w10) begin
            ld_word_next = 4'd0;
            ld_rec_next = ld_rec_reg + 32'd1;
            active_next = ld_rem_reg != 32'd0;
        end else begin
            ld_word_next = ld_word_reg + 4'd1;
        end
    end

    if (load_data) begin
        tdata_next = use_err_reg ? (ld_w10 ? err_word : 32'd0) : fifo_mem[rd_ptr_reg];
    end

    if (load && ld_w10_rem_reg) begin
        ld_rem_next = ld_rem_reg - 32'd1;
    end

    if (start_ctl) begin
        // the engine is idle at START; nothing stale stays in the FIFO
        wr_ptr_next = {PTR_WIDTH{1'b0}};
        rd_ptr_next = {PTR_WIDTH{1'b0}};
        count_next = {(PTR_WIDTH+1){1'b0}};
        active_next = 1'b1;
        ld_word_next = 4'd0;
        ld_rec_next = 32'd0;
        tvalid_next = 1'b0;
        images_done_next = 32'd0;
        out_done_next = 1'b0;
        use_err_next = 1'b0;
        open_next = 1'b0;
        aborted_next = 1'b0;
        term_next = 1'b0;
    end

    if (start_rem) begin
        ld_rem_next = n_images - 32'd1;
    end

    if (aborted_reg && wait_reg == WAIT_LAST) begin
        // nobody has taken a beat since the abort: the consumer was reset
        tvalid_next = 1'b0;
        term_next = 1'b0;
    end

    if (abort) begin
        wait_next = {WAIT_WIDTH{1'b0}};
        wr_ptr_next = {PTR_WIDTH{1'b0}};
        rd_ptr_next = {PTR_WIDTH{1'b0}};
        count_next = {(PTR_WIDTH+1){1'b0}};
        active_next = 1'b0;
        aborted_next = 1'b1;
        // the beat on offer stays until TREADY; the packet gets a terminator
        // unless that beat carries TLAST (a second abort changes nothing)
        tvalid_next = tvalid_reg && !m_axis_tready;
        term_next = term_reg || (open_reg && !(tvalid_reg && tlast_reg));
        open_next = 1'b0;
    end

    // registered count only: a pop in this cycle frees its word one cycle later
    room_next = count_reg < ROOM_LIMIT;
end

always @(posedge clk) begin
    if (res_valid) begin
        fifo_mem[wr_ptr_reg] <= res_data;
    end

    wr_ptr_reg <= wr_ptr_next;
    rd_ptr_reg <= rd_ptr_next;
    count_reg <= count_next;
    room_reg <= room_next;
    active_reg <= active_next;
    active_data_reg <= active_next && rst_n;
    ld_word_reg <= ld_word_next;
    ld_w10_rem_reg <= ld_word_next == LAST_WORD;
    ld_rec_reg <= ld_rec_next;
    ld_rem_reg <= ld_rem_next;
    tvalid_reg <= tvalid_next;
    tdata_reg <= tdata_next;
    tlast_reg <= tlast_next;
    tw10_reg <= tw10_next;
    images_done_reg <= images_done_next;
    last_beat_reg <= last_beat_next;
    out_done_reg <= out_done_next;
    use_err_reg <= use_err_next;
    open_reg <= open_next;
    aborted_reg <= aborted_next;
    term_reg <= term_next;
    wait_reg <= wait_next;

    if (!rst_n) begin
        wr_ptr_reg <= {PTR_WIDTH{1'b0}};
        rd_ptr_reg <= {PTR_WIDTH{1'b0}};
        count_reg <= {(PTR_WIDTH+1){1'b0}};
        room_reg <= 1'b1;
        active_reg <= 1'b0;
        tvalid_reg <= 1'b0;
        images_done_reg <= 32'd0;
        last_beat_reg <= 1'b0;
        out_done_reg <= 1'b1;
        use_err_reg <= 1'b0;
        open_reg <= 1'b0;
        aborted_reg <= 1'b0;
        term_reg <= 1'b0;
    end
end

`ifdef MNIST_FORMAL_RESULT_OUT
// ---------------------------------------------------------------- formal (hw/formal)
// Inputs are assumed to behave as mnist_layer2 / mnist_stream_in / mnist_top
// drive them; the f_* checker state and the invariants below exist only for
// the proof (result_out.sby, k-induction).
reg f_past_valid = 1'b0;
reg f_started = 1'b0;                 // a batch has been started since reset
reg f_aborted = 1'b0;                 // abort since the last start
reg f_tlast_seen = 1'b0;              // the packet of this batch is closed
reg [1:0] f_after_abort = 2'd0;       // beats accepted since the abort
reg [31:0] f_n = 32'd0;               // N of the current batch
reg [31:0] f_rec = 32'd0;             // records accepted on m_axis
reg [3:0] f_word = 4'd0;              // words of record f_rec accepted
reg [31:0] f_prod_rec = 32'd0;        // complete records written by the producer
reg [3:0] f_prod_word = 4'd0;         // words of the producer's current record
reg f_grant = 1'b0;                   // res_room seen since the producer's last record
reg f_err_prev = 1'b0;

// words in the FIFO = produced - popped, as (records, words): popping stops at n_good
wire f_err_region = err_flag && ld_rec_reg >= n_good;
wire [31:0] f_pop_rec = f_err_region ? n_good : ld_rec_reg;
wire [3:0] f_pop_word = f_err_region ? 4'd0 : ld_word_reg;
wire [31:0] f_fifo_recs = f_prod_rec - f_pop_rec;
wire [7:0] f_fifo_words = {4'd0, f_fifo_recs[3:0]} * WORDS + {4'd0, f_prod_word} - {4'd0, f_pop_word};
wire f_last_rec = f_rec == f_n - 32'd1;
// the documented withdrawal: FLUSH_IDLE_CYCLES cycles after an abort without a beat
// accepted (counted at the port from the abort or the last beat taken)
reg [15:0] f_quiet = 16'd0;           // cycles since the last beat accepted or abort (saturating)
wire f_withdraw = f_aborted && f_quiet == FLUSH_IDLE_CYCLES - 1 && !abort;

// the producer's records so far, a started one included, are at most `limit`
function automatic f_prod_within(input [31:0] limit);
    f_prod_within = f_prod_rec < limit || (f_prod_rec == limit && f_prod_word == 4'd0);
endfunction

always @(posedge clk) begin
    f_past_valid <= 1'b1;
    f_err_prev <= err_flag;
    if (abort || beat_fire) f_quiet <= 16'd0;
    else if (f_quiet != 16'hFFFF) f_quiet <= f_quiet + 16'd1;
    if (beat_fire) begin
        if (f_word == LAST_WORD) begin
            f_word <= 4'd0;
            f_rec <= f_rec + 32'd1;
        end else begin
            f_word <= f_word + 4'd1;
        end
        if (m_axis_tlast) f_tlast_seen <= 1'b1;
        if (f_aborted && f_after_abort != 2'd3) f_after_abort <= f_after_abort + 2'd1;
    end
    if (res_valid) begin
        if (f_prod_word == LAST_WORD) begin
            f_prod_word <= 4'd0;
            f_prod_rec <= f_prod_rec + 32'd1;
        end else begin
            f_prod_word <= f_prod_word + 4'd1;
        end
    end
    if (res_valid && f_prod_word == 4'd0) f_grant <= 1'b0;
    else if (res_room && f_prod_word == 4'd0) f_grant <= 1'b1;
    if (abort && !f_aborted) begin
        f_aborted <= 1'b1;
        f_after_abort <= 2'd0;
    end
    if (start) begin
        f_started <= 1'b1;
        f_aborted <= 1'b0;
        f_tlast_seen <= 1'b0;
        f_n <= n_images;
        f_rec <= 32'd0;
        f_word <= 4'd0;
        f_prod_rec <= 32'd0;
        f_prod_word <= 4'd0;
        f_grant <= 1'b0;
    end
end

// the environment (mnist_top starts a batch only when neither busy nor draining)
always @* begin
    assume(rst_n == f_past_valid);
    if (!rst_n) assume(!start && !abort);
    assume(!(start && abort));
    if (start) begin
        assume(n_images != 32'd0 && !res_valid && !flushing);
        assume(f_aborted ? 1'b1 : out_done && f_prod_word == 4'd0);
    end
    // layer 2 is reset with the abort and idle before the first start
    if (!f_started || f_aborted) assume(!res_valid);
    // a record starts only after res_room, and only for an image that was received good
    if (res_valid && f_prod_word == 4'd0) begin
        assume(f_grant || res_room);
        assume(f_prod_rec < f_n);
        if (err_flag) assume(f_prod_rec < n_good);
    end
    if (f_past_valid && f_started) begin
        if (err_flag) assume(n_good <= f_n);
        if (err_flag && !f_err_prev) assume(f_prod_within(n_good));
    end
end

always @(posedge clk) begin
    if (f_past_valid && !$past(start) && !$past(abort) && $past(f_started)) begin
        // err_flag rises once per batch, n_good does not move while it is set
        if ($past(err_flag)) assume(err_flag && $stable(n_good));
    end
    if (f_past_valid && $past(start)) assume(!err_flag);
end

// the properties
always @(posedge clk) begin
    // a beat stays on offer until accepted, unless withdrawn as documented
    if (f_past_valid && $past(rst_n) && $past(m_axis_tvalid && !m_axis_tready) && !$past(f_withdraw)) begin
        assert(m_axis_tvalid && $stable(m_axis_tdata) && $stable(m_axis_tlast));
    end
end

always @* begin
    if (f_past_valid) begin
        // FIFO never overflows (nor underflows)
        assert(count_reg <= FIFO_DEPTH);
        assert(wr_ptr_reg - rd_ptr_reg == count_reg[PTR_WIDTH-1:0]);
        // res_room promises room for a whole record, counting a word written in
        // the cycle it was sampled (the producer may start right after its word 10)
        if (room_reg) assert({{(31-PTR_WIDTH){1'b0}}, count_reg} + WORDS <= FIFO_DEPTH);
        // nothing after TLAST until the next START
        if (f_tlast_seen) assert(!m_axis_tvalid && !term_reg);
        assert(aborted_reg == f_aborted);
        if (f_quiet < FLUSH_IDLE_CYCLES) assert({{(16-WAIT_WIDTH){1'b0}}, wait_reg} == f_quiet);
        if (f_aborted && (m_axis_tvalid || term_reg)) assert(f_quiet < FLUSH_IDLE_CYCLES);
        if (f_aborted) begin
            // SOFT_RESET: the beat on offer, then at most one terminator with TLAST
            assert(!active_reg && count_reg == 0 && !open_reg);
            assert(f_after_abort <= 2'd2);
            if (f_after_abort != 2'd0) assert(!m_axis_tvalid || (m_axis_tlast && !term_reg));
            if (f_after_abort == 2'd2) assert(!m_axis_tvalid && !term_reg);
            if (term_reg) assert(!m_axis_tlast || !m_axis_tvalid);
        end else if (!f_started) begin
            assert(!m_axis_tvalid && out_done && !active_reg && count_reg == 0 && !term_reg);
            assert(!open_reg);
        end else begin
            // exactly N*11 beats, TLAST on the last one only
            if (m_axis_tvalid) begin
                assert(f_rec < f_n);
                assert(m_axis_tlast == (f_word == LAST_WORD && f_last_rec));
                assert(tw10_reg == (f_word == LAST_WORD));
            end
            assert(out_done == (f_rec == f_n) && f_tlast_seen == out_done);
            assert(images_done == f_rec);
            assert(f_word <= LAST_WORD && ld_word_reg <= LAST_WORD && f_prod_word <= LAST_WORD);
            // invariants
            assert(!term_reg);
            if (use_err_reg) assert(f_err_region);
            assert(open_reg == (!out_done && (m_axis_tvalid || f_rec != 32'd0 || f_word != 4'd0)));
            if (!m_axis_tvalid) begin
                assert(ld_rec_reg == f_rec && ld_word_reg == f_word);
            end else if (f_word == LAST_WORD) begin
                assert(ld_rec_reg == f_rec + 32'd1 && ld_word_reg == 4'd0);
            end else begin
                assert(ld_rec_reg == f_rec && ld_word_reg == f_word + 4'd1);
            end
            assert(active_reg == (ld_rec_reg < f_n));
            if (active_reg) assert(ld_rem_reg == f_n - 32'd1 - ld_rec_reg);
            assert(ld_rec_reg <= f_n && f_rec <= f_n);
            assert(f_pop_rec <= f_prod_rec && f_fifo_recs <= 32'd3);
            assert({{(7-PTR_WIDTH){1'b0}}, count_reg} == f_fifo_words);
            if (f_fifo_recs == 32'd0) assert(f_pop_word <= f_prod_word);
            if (f_grant) begin
                assert({{(31-PTR_WIDTH){1'b0}}, count_reg} + WORDS <= FIFO_DEPTH);
                assert(f_prod_word == 4'd0);
            end
            if (f_prod_word != 4'd0) begin
                assert({{(31-PTR_WIDTH){1'b0}}, count_reg} + WORDS - {28'd0, f_prod_word} <= FIFO_DEPTH);
            end
            assert(f_prod_within(f_n));
            if (err_flag) assert(f_prod_within(n_good));
        end
    end
end
// the fan-out copy of ld_w10 (induction needs it stated)
always @* begin
    assert(ld_w10_rem_reg == ld_w10 && active_data_reg == active_reg);
end

// the scenarios this harness is about are reachable (result_out.sby, task cover)
always @(posedge clk) begin
    if (f_past_valid && $past(rst_n)) begin
        // a full FIFO, and the producer held off by res_room with a record waiting
        cover(count_reg == FIFO_DEPTH);
        cover(!res_room && f_prod_word == 4'd0 && count_reg != 0 && !m_axis_tready);
        // a record boundary (word 10) and the packet's TLAST accepted
        cover(beat_fire && tw10_reg && !tlast_reg && f_rec == 32'd0);
        cover(beat_fire && tlast_reg && f_n == 32'd2 && !f_aborted);
        // error records generated after err_flag, from a record boundary on
        cover(beat_fire && use_err_reg && tw10_reg && f_rec != 32'd0);
        // SOFT_RESET mid-packet with a beat on offer: that beat, then the terminator
        cover(abort && open_reg && m_axis_tvalid && !m_axis_tready && !m_axis_tlast);
        cover(beat_fire && f_aborted && f_after_abort == 2'd1 && m_axis_tlast);
        // a beat withdrawn after FLUSH_IDLE_CYCLES without TREADY
        cover($past(f_withdraw && m_axis_tvalid) && !m_axis_tvalid);
    end
end
`endif

endmodule

`resetall
