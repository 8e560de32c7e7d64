`resetall
`timescale 1ns / 1ps
`default_nettype none

`include "mnist_regmap.vh"

// Layer 2 and the digits: logits[o] = sum_n W2[o][n] * h[n] with four
// multipliers (four neurons per cycle, 320 cycles per image), digit =
// argmax(logits) and seed digit = argmax(min(255, max(0, logits >> shift_l2))),
// lowest index on ties. It runs on image k while layer 1 works on image k+1.
//
// W2 is mirrored here at weight-window write time (window words from
// MNIST_W2_WORD_BASE on: word o*32 + n/4 holds W2[o][n..n+3]) so that layer 2
// never competes with layer 1 for the bank read ports.
module mnist_layer2 (
    input  wire                           clk,
    input  wire                           rst_n,
    input  wire                           start,      // batch start
    input  wire [`MNIST_SHIFT_WIDTH-1:0]  shift_l2,

    // W2 mirror writes
    input  wire                           w2_wr_en,
    input  wire [8:0]                     w2_wr_addr, // o*32 + n/4
    input  wire [31:0]                    w2_wr_data,
    input  wire [3:0]                     w2_wr_strb,

    // hidden activations from layer 1
    input  wire                           h_wr_en,
    input  wire [7:0]                     h_wr_addr,  // {slot, n}
    input  wire [7:0]                     h_wr_data,
    input  wire                           h_done,
    output wire                           h_release,

    // result words 0..10 of good images
    input  wire                           res_room,   // space for 11 words
    output wire                           res_valid,
    output wire [31:0]                    res_data
);

localparam N_OUT = `MNIST_N_OUT;
localparam K_WORDS = `MNIST_N_HID / 4;          // 32 words of four neurons
localparam SUM_WIDTH = 19;                      // four 17-bit products
localparam LOGIT_WIDTH = 24;                    // |128 * 128 * 255| < 2^23
localparam PIPE = 7;                            // issue -> accumulator holds the sum
localparam integer LAST_O_INT = N_OUT - 1;
localparam [3:0] LAST_O = LAST_O_INT[3:0];
localparam integer LAST_K_INT = K_WORDS - 1;
localparam [4:0] LAST_K = LAST_K_INT[4:0];

// ---------------------------------------------------------------- memories
// one RAMB18 with byte write enables
(* ram_style = "block" *) reg [31:0] w2_mem [0:N_OUT*K_WORDS-1];
(* ram_style = "distributed" *) reg [7:0] h_mem0 [0:2*K_WORDS-1];
(* ram_style = "distributed" *) reg [7:0] h_mem1 [0:2*K_WORDS-1];
(* ram_style = "distributed" *) reg [7:0] h_mem2 [0:2*K_WORDS-1];
(* ram_style = "distributed" *) reg [7:0] h_mem3 [0:2*K_WORDS-1];

wire [5:0] h_wa = {h_wr_addr[7], h_wr_addr[6:2]};

always @(posedge clk) begin
    if (w2_wr_en && w2_wr_strb[0]) w2_mem[w2_wr_addr][7:0] <= w2_wr_data[7:0];
    if (w2_wr_en && w2_wr_strb[1]) w2_mem[w2_wr_addr][15:8] <= w2_wr_data[15:8];
    if (w2_wr_en && w2_wr_strb[2]) w2_mem[w2_wr_addr][23:16] <= w2_wr_data[23:16];
    if (w2_wr_en && w2_wr_strb[3]) w2_mem[w2_wr_addr][31:24] <= w2_wr_data[31:24];
    if (h_wr_en && h_wr_addr[1:0] == 2'd0) h_mem0[h_wa] <= h_wr_data;
    if (h_wr_en && h_wr_addr[1:0] == 2'd1) h_mem1[h_wa] <= h_wr_data;
    if (h_wr_en && h_wr_addr[1:0] == 2'd2) h_mem2[h_wa] <= h_wr_data;
    if (h_wr_en && h_wr_addr[1:0] == 2'd3) h_mem3[h_wa] <= h_wr_data;
end

// ---------------------------------------------------------------- sequencer
reg run_reg = 1'b0, run_next;
reg pend_reg = 1'b0, pend_next;            // an image is in flight up to its word 10
reg [3:0] o_reg = 4'd0, o_next;
reg [4:0] k_reg = 5'd0, k_next;
reg slot_reg = 1'b0, slot_next;
reg [1:0] havail_reg = 2'd0, havail_next;  // images whose h is complete
reg release_reg = 1'b0, release_next;
reg [15:0] index_reg = 16'd0, index_next;
reg w10_valid_reg = 1'b0;                  // word 10 is being formed
reg w10_out_reg = 1'b0;                    // word 10 is on res_data

wire issue_last = run_reg && o_reg == LAST_O && k_reg == LAST_K;
wire can_start = !run_reg && !pend_reg && havail_reg != 2'd0 && res_room;

always @* begin
    run_next = run_reg;
    pend_next = pend_reg;
    o_next = o_reg;
    k_next = k_reg;
    slot_next = slot_reg;
    havail_next = havail_reg + {1'b0, h_done} - {1'b0, can_start};
    release_next = issue_last;
    index_next = index_reg + {15'd0, w10_valid_reg};

    if (run_reg) begin
        k_next = k_reg + 5'd1;
        if (k_reg == LAST_K) begin
            o_next = o_reg + 4'd1;
        end
        if (issue_last) begin
            run_next = 1'b0;
            slot_next = !slot_reg;
        end
    end else if (can_start) begin
        run_next = 1'b1;
        pend_next = 1'b1;
        o_next = 4'd0;
        k_next = 5'd0;
    end
    if (w10_out_reg) begin
        // res_room counts word 10 from the next cycle on
        pend_next = 1'b0;
    end
    if (start) begin
        run_next = 1'b0;
        pend_next = 1'b0;
        slot_next = 1'b0;
        havail_next = 2'd0;
        release_next = 1'b0;
        index_next = 16'd0;
    end
end

always @(posedge clk) begin
    run_reg <= run_next;
    pend_reg <= pend_next;
    o_reg <= o_next;
    k_reg <= k_next;
    slot_reg <= slot_next;
    havail_reg <= havail_next;
    release_reg <= release_next;
    index_reg <= index_next;

    if (!rst_n) begin
        run_reg <= 1'b0;
        pend_reg <= 1'b0;
        slot_reg <= 1'b0;
        havail_reg <= 2'd0;
        release_reg <= 1'b0;
        index_reg <= 16'd0;
    end
end

assign h_release = release_reg;

// ---------------------------------------------------------------- datapath
localparam CTL_W = 7;  // {o[3:0], last_k, first_k, valid}
reg [CTL_W-1:0] ctl_d [1:PIPE];
wire [CTL_W-1:0] ctl_issue = {o_reg, k_reg == LAST_K, k_reg == 5'd0, run_reg};

// RAM read registers, then a register in front of the multipliers (the block
// RAM output never drives a DSP input directly), M and P registers in the DSPs
reg [31:0] w2_q_reg;
reg [31:0] h_q_reg;
reg [31:0] w2_r_reg;
reg [31:0] h_r_reg;
(* use_dsp = "yes" *) reg signed [16:0] prod_reg [0:3];
(* use_dsp = "yes" *) reg signed [16:0] prod_p_reg [0:3];
reg signed [SUM_WIDTH-2:0] sum01_reg, sum23_reg;
reg signed [SUM_WIDTH-1:0] sum_reg;
reg signed [LOGIT_WIDTH-1:0] acc_reg;

reg logit_valid_reg = 1'b0;
reg [3:0] logit_o_reg = 4'd0;
reg signed [LOGIT_WIDTH-1:0] logit_reg;
reg seed_valid_reg = 1'b0;
reg [3:0] seed_o_reg = 4'd0;
reg [7:0] seed_val_reg;

reg signed [LOGIT_WIDTH-1:0] best_reg;
reg [3:0] digit_reg = 4'd0;
reg [7:0] seed_best_reg;
reg [3:0] seed_digit_reg = 4'd0;

reg res_valid_reg = 1'b0;
reg [31:0] res_data_reg = 32'd0;

wire [8:0] w2_ra = {o_reg, k_reg};
wire [5:0] h_ra = {slot_reg, k_reg};

// seed value of a logit: min(255, max(0, logit >> shift_l2))
wire signed [LOGIT_WIDTH-1:0] logit_sh = logit_reg >>> shift_l2;
wire [7:0] seed_val = logit_sh[LOGIT_WIDTH-1] ? 8'd0
                    : ((|logit_sh[LOGIT_WIDTH-2:8]) ? 8'hFF : logit_sh[7:0]);

integer s;
always @(posedge clk) begin
    ctl_d[1] <= ctl_issue;
    for (s = 2; s <= PIPE; s = s + 1) begin
        ctl_d[s] <= ctl_d[s-1];
    end

    w2_q_reg <= w2_mem[w2_ra];
    h_q_reg <= {h_mem3[h_ra], h_mem2[h_ra], h_mem1[h_ra], h_mem0[h_ra]};
    w2_r_reg <= w2_q_reg;
    h_r_reg <= h_q_reg;
    for (s = 0; s < 4; s = s + 1) begin
        prod_reg[s] <= $signed(w2_r_reg[s*8 +: 8]) * $signed({1'b0, h_r_reg[s*8 +: 8]});
        prod_p_reg[s] <= prod_reg[s];
    end
    sum01_reg <= prod_p_reg[0] + prod_p_reg[1];
    sum23_reg <= prod_p_reg[2] + prod_p_reg[3];
    sum_reg <= sum01_reg + sum23_reg;
    if (ctl_d[PIPE-1][0]) begin
        acc_reg <= (ctl_d[PIPE-1][1] ? {LOGIT_WIDTH{1'b0}} : acc_reg)
                 + {{(LOGIT_WIDTH-SUM_WIDTH){sum_reg[SUM_WIDTH-1]}}, sum_reg};
    end

    // logit o complete: emit it, track the argmax, then the seed argmax
    logit_valid_reg <= ctl_d[PIPE][0] && ctl_d[PIPE][2];
    logit_o_reg <= ctl_d[PIPE][6:3];
    logit_reg <= acc_reg;

    seed_valid_reg <= logit_valid_reg;
    seed_o_reg <= logit_o_reg;
    seed_val_reg <= seed_val;
    if (logit_valid_reg && (logit_o_reg == 4'd0 || logit_reg > best_reg)) begin
        best_reg <= logit_reg;
        digit_reg <= logit_o_reg;
    end
    if (seed_valid_reg && (seed_o_reg == 4'd0 || seed_val_reg > seed_best_reg)) begin
        seed_best_reg <= seed_val_reg;
        seed_digit_reg <= seed_o_reg;
    end
    w10_valid_reg <= seed_valid_reg && seed_o_reg == LAST_O;

    res_valid_reg <= logit_valid_reg || w10_valid_reg;
    w10_out_reg <= w10_valid_reg;
    if (w10_valid_reg) begin
        res_data_reg <= 32'd0;
        res_data_reg[`MNIST_RESULT_DIGIT_LSB +: `MNIST_RESULT_DIGIT_WIDTH] <= digit_reg;
        res_data_reg[`MNIST_RESULT_SEED_DIGIT_LSB +: `MNIST_RESULT_SEED_DIGIT_WIDTH] <= seed_digit_reg;
        res_data_reg[`MNIST_RESULT_INDEX_LSB +: `MNIST_RESULT_INDEX_WIDTH] <= index_reg;
    end else begin
        res_data_reg <= {{(32-LOGIT_WIDTH){logit_reg[LOGIT_WIDTH-1]}}, logit_reg};
    end

    if (!rst_n || start) begin
        for (s = 1; s <= PIPE; s = s + 1) begin
            ctl_d[s][0] <= 1'b0;
        end
        logit_valid_reg <= 1'b0;
        seed_valid_reg <= 1'b0;
        w10_valid_reg <= 1'b0;
        w10_out_reg <= 1'b0;
        res_valid_reg <= 1'b0;
    end
end

assign res_valid = res_valid_reg;
assign res_data = res_data_reg;

`ifdef MNIST_FORMAL_LAYER2
// ---------------------------------------------------------------- formal (hw/formal)
// Properties of layer2.sby (k-induction): what mnist_result_out's proof
// assumes of its producer. Result words come in records of 11; a record
// starts only after res_room was seen since the previous record ended; there
// is no record without a completed h image. Layer 1 is assumed to hold at
// most two h images (h_done at most two ahead of h_release).
reg f_past_valid = 1'b0;
reg [3:0] f_word = 4'd0;              // words of the current record written
reg f_grant = 1'b0;                   // res_room seen since the last record ended
reg [2:0] f_h_held = 3'd0;            // h images done and not yet released
reg [2:0] f_h_ready = 3'd0;           // h images done with no record begun

always @(posedge clk) begin
    f_past_valid <= 1'b1;
    if (res_valid) f_word <= (f_word == 4'd10) ? 4'd0 : f_word + 4'd1;
    if (res_valid && f_word == 4'd0) f_grant <= 1'b0;
    else if (res_room && f_word == 4'd0) f_grant <= 1'b1;
    f_h_held <= f_h_held + {2'd0, h_done} - {2'd0, h_release};
    f_h_ready <= f_h_ready + {2'd0, h_done} - {2'd0, can_start};
    if (!rst_n || start) begin
        f_word <= 4'd0;
        f_grant <= 1'b0;
        f_h_held <= 3'd0;
        f_h_ready <= 3'd0;
    end
end

// the environment
always @* begin
    assume(rst_n == f_past_valid);
    if (h_done) assume(f_h_held < 3'd2 || h_release);
    // the batch starts when the previous one is over: no record is pending
    if (start) assume(rst_n && f_h_held == 3'd0 && f_word == 4'd0 && !pend_reg);
    if (start) assume(!h_done);
end

// the properties
always @* begin
    if (f_past_valid && rst_n) begin
        if (res_valid && f_word == 4'd0) assert(f_grant || res_room);
        if (h_release) assert(f_h_held != 3'd0);
        assert(f_h_ready <= f_h_held && f_h_held <= 3'd2);
        // invariants
        assert(f_word <= 4'd10);
        if (f_word != 4'd0) assert(pend_reg);
        if (pend_reg && f_word == 4'd0) assert(f_grant || res_valid);
        assert({1'b0, havail_reg} == f_h_ready);
        if (run_reg) assert(pend_reg && o_reg <= LAST_O);
        // logit o - 1 leaves res_data PIPE + 2 cycles after its last issue
        if (run_reg && o_reg != 4'd0 && k_reg <= PIPE + 1) assert(f_word + 4'd1 == o_reg);
        else if (run_reg) assert(f_word == o_reg);
        if (!run_reg && pend_reg) assert(o_reg == 4'd10 && f_word >= 4'd9);
        if (!pend_reg) assert(!res_valid && !w10_valid_reg && !logit_valid_reg && !seed_valid_reg);
        assert(f_h_held - f_h_ready == {2'd0, run_reg || release_reg});
    end
end

// the scenarios this harness is about are reachable (layer2.sby, task cover)
always @(posedge clk) begin
    if (f_past_valid && rst_n && $past(rst_n)) begin
        // an image waiting for res_room, then started when room comes
        cover(can_start && $past(!res_room && havail_reg != 2'd0 && !run_reg && !pend_reg));
        // two h images held by layer 1 while one record is computed
        cover(f_h_held == 3'd2 && run_reg);
        // the first logit of a record leaves
        cover(res_valid && f_word == 4'd0);
    end
end
`endif

endmodule

`resetall
