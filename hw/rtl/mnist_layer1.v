`resetall
`timescale 1ns / 1ps
`default_nettype none

`include "mnist_regmap.vh"

// Layer 1: NUM_BANKS weight banks and MAC lanes in lockstep, plus the shared
// requantizer. Lane b computes neurons n = b + NUM_BANKS*j (j = 0..NPL-1)
// while the pixel x[i] is broadcast; all banks read the same address
// j*784 + i, so one image takes 784*NPL cycles. When a group j finishes,
// every lane's sum is captured and requantized serially (one neuron per
// cycle) into the h buffer while the lanes go on with group j+1 or with the
// next image.
//
// The banks also serve the weight window: writes at any time (the register
// file refuses them while busy), reads while the sequencer is idle.
module mnist_layer1 #(
    // weight banks = MAC lanes; 8..128, divides 128
    parameter NUM_BANKS = 64
) (
    input  wire                               clk,
    input  wire                               rst_n,
    input  wire                               start,      // batch start
    input  wire [`MNIST_SHIFT_WIDTH-1:0]      shift_l1,

    // weight window
    input  wire                               win_wr_en,
    input  wire [`MNIST_WIN_WORD_WIDTH-1:0]   win_wr_addr,
    input  wire [31:0]                        win_wr_data,
    input  wire [3:0]                         win_wr_strb,
    input  wire                               win_rd_en,
    input  wire [`MNIST_WIN_WORD_WIDTH-1:0]   win_rd_addr,
    output wire                               win_rd_valid,
    output wire [31:0]                        win_rd_data,

    // image slots (mnist_stream_in)
    input  wire                               img_avail,
    output wire                               img_release,
    output wire [$clog2(`MNIST_N_IN/4):0]     img_rd_addr,
    input  wire [31:0]                        img_rd_data,

    // hidden activations (mnist_layer2)
    output wire                               h_wr_en,
    output wire [7:0]                         h_wr_addr,  // {slot, n}
    output wire [7:0]                         h_wr_data,
    output wire                               h_done,     // pulse: an image's h complete
    input  wire                               h_release   // pulse: oldest h slot free
);

localparam N_IN = `MNIST_N_IN;
localparam N_HID = `MNIST_N_HID;
localparam N_OUT = `MNIST_N_OUT;
localparam NB = NUM_BANKS;
localparam NPL = N_HID / NB;                    // neurons per lane
localparam DEPTH = (N_IN + N_OUT) * NPL;        // bank words
localparam BANK_AW = $clog2(DEPTH);
localparam LANE_BITS = $clog2(NB);
localparam Q_BITS = $clog2(NB / 4);             // bank group of a window word
localparam J_BITS = (NPL > 1) ? $clog2(NPL) : 1;
localparam I_BITS = $clog2(N_IN);
localparam ACC_WIDTH = 26;
localparam integer LAST_I_INT = N_IN - 1;
localparam [I_BITS-1:0] LAST_I = LAST_I_INT[I_BITS-1:0];
localparam integer LAST_J_INT = NPL - 1;
localparam [J_BITS-1:0] LAST_J = LAST_J_INT[J_BITS-1:0];
localparam integer LAST_LANE_INT = NB - 1;
localparam [LANE_BITS-1:0] LAST_LANE = LAST_LANE_INT[LANE_BITS-1:0];
localparam PIPE = 6;                             // issue -> P register holds the sum
// Fan-out control for 150 MHz: every lane-wide control and address net is a
// register copy per CTL_LANES lanes (KEEP stops synthesis from merging the
// copies again, MAX_FANOUT lets Vivado split them further if it wants).
localparam CTL_LANES = 8;
localparam N_CTL = NB / CTL_LANES;

initial begin
    if (NB < 8 || NB > N_HID || (N_HID % NB) != 0) begin
        $error("%m: NUM_BANKS=%0d must be 8..128 and divide 128", NB);
        $finish;
    end
end

// ---------------------------------------------------------------- weight window writes
reg [NB-1:0] bank_we_reg = {NB{1'b0}};
(* keep = "true", max_fanout = 64 *) reg [BANK_AW-1:0] bank_wa_reg [0:N_CTL-1];
reg [31:0] bank_wd_reg = 32'd0;

wire [Q_BITS-1:0] wr_q = win_wr_addr[Q_BITS-1:0];
wire [`MNIST_WIN_WORD_WIDTH-Q_BITS-1:0] wr_row = win_wr_addr[`MNIST_WIN_WORD_WIDTH-1:Q_BITS];

// the bank group decoded first, as a net of its own (KEEP stops ABC from merging the
// two levels): each address bit then drives NB/4 LUTs, each group bit 4 (at 128 banks
// the merged decode put 66 loads on one address bit); the reset is folded in here
// too, rather than onto NB reset pins
(* keep = "true" *) wire [NB/4-1:0] wr_group =
    (win_wr_en && rst_n) ? ({{(NB/4-1){1'b0}}, 1'b1} << wr_q) : {(NB/4){1'b0}};
wire [NB-1:0] wr_we;
genvar wg;
generate
    for (wg = 0; wg < NB / 4; wg = wg + 1) begin : g_wr_group
        assign wr_we[4*wg +: 4] = win_wr_strb & {4{wr_group[wg]}};
    end
endgenerate

integer k;
always @(posedge clk) begin
    bank_we_reg <= wr_we;
    for (k = 0; k < N_CTL; k = k + 1) begin
        bank_wa_reg[k] <= wr_row[BANK_AW-1:0];
    end
    bank_wd_reg <= win_wr_data;
end

// ---------------------------------------------------------------- sequencer
reg run_reg = 1'b0, run_next;
reg [BANK_AW-1:0] raddr_reg = {BANK_AW{1'b0}}, raddr_next;  // bank read address
(* keep = "true", max_fanout = 64 *) reg [BANK_AW-1:0] bank_ra_reg [0:N_CTL-1];  // its copies
reg [I_BITS-1:0] i_reg = {I_BITS{1'b0}}, i_next;
reg [J_BITS-1:0] j_reg = {J_BITS{1'b0}}, j_next;
reg slot_reg = 1'b0, slot_next;
reg [1:0] hcnt_reg = 2'd0, hcnt_next;     // images holding an h slot
reg release_reg = 1'b0, release_next;

// window read-back pipeline: address in raddr_reg, data 3 cycles later
reg [3:0] wrd_valid_reg = 4'd0;
reg [Q_BITS-1:0] wrd_q_reg [1:2];
(* keep = "true", max_fanout = 64 *) reg [Q_BITS-1:0] wrd_sel_reg [0:7];  // per nibble
reg [31:0] win_rd_data_reg = 32'd0;

wire [Q_BITS-1:0] rd_q = win_rd_addr[Q_BITS-1:0];
wire [`MNIST_WIN_WORD_WIDTH-Q_BITS-1:0] rd_row = win_rd_addr[`MNIST_WIN_WORD_WIDTH-1:Q_BITS];

wire issue_last = run_reg && i_reg == LAST_I && j_reg == LAST_J;
wire can_start = img_avail && !release_reg && hcnt_reg != 2'd2;

always @* begin
    run_next = run_reg;
    raddr_next = raddr_reg;
    i_next = i_reg;
    j_next = j_reg;
    slot_next = slot_reg;
    hcnt_next = hcnt_reg - {1'b0, h_release};
    release_next = 1'b0;

    if (start) begin
        run_next = 1'b0;
        slot_next = 1'b0;
        hcnt_next = 2'd0;
    end else if (run_reg) begin
        raddr_next = raddr_reg + 1'b1;
        if (i_reg == LAST_I) begin
            i_next = {I_BITS{1'b0}};
            j_next = j_reg + 1'b1;
        end else begin
            i_next = i_reg + 1'b1;
        end
        if (issue_last) begin
            run_next = 1'b0;
            release_next = 1'b1;
            slot_next = !slot_reg;
        end
    end else if (can_start) begin
        run_next = 1'b1;
        raddr_next = {BANK_AW{1'b0}};
        i_next = {I_BITS{1'b0}};
        j_next = {J_BITS{1'b0}};
        hcnt_next = hcnt_next + 2'd1;
    end else if (win_rd_en) begin
        raddr_next = rd_row[BANK_AW-1:0];
    end
end

always @(posedge clk) begin
    run_reg <= run_next;
    raddr_reg <= raddr_next;
    for (k = 0; k < N_CTL; k = k + 1) begin
        bank_ra_reg[k] <= raddr_next;
    end
    i_reg <= i_next;
    j_reg <= j_next;
    slot_reg <= slot_next;
    hcnt_reg <= hcnt_next;
    release_reg <= release_next;

    wrd_valid_reg <= {wrd_valid_reg[2:0], win_rd_en};
    wrd_q_reg[1] <= rd_q;
    wrd_q_reg[2] <= wrd_q_reg[1];
    for (k = 0; k < 8; k = k + 1) begin
        wrd_sel_reg[k] <= wrd_q_reg[2];
    end

    if (!rst_n) begin
        run_reg <= 1'b0;
        slot_reg <= 1'b0;
        hcnt_reg <= 2'd0;
        release_reg <= 1'b0;
        wrd_valid_reg <= 4'd0;
    end
end

assign img_release = release_reg;
assign img_rd_addr = {slot_reg, i_reg[I_BITS-1:2]};
assign win_rd_valid = wrd_valid_reg[3];
assign win_rd_data = win_rd_data_reg;

// ---------------------------------------------------------------- control pipeline
// ctl_d[k]: the issue of k cycles ago
localparam CTL_W = 5 + J_BITS;  // {slot, last_j, j, last_i, first_i, valid}
reg [CTL_W-1:0] ctl_d [1:PIPE];
reg [1:0] ilo_d1;

wire [CTL_W-1:0] ctl_issue = {slot_reg, j_reg == LAST_J, j_reg, i_reg == LAST_I,
                              i_reg == {I_BITS{1'b0}}, run_reg};

always @(posedge clk) begin
    ctl_d[1] <= ctl_issue;
    for (k = 2; k <= PIPE; k = k + 1) begin
        ctl_d[k] <= ctl_d[k-1];
    end
    ilo_d1 <= i_reg[1:0];
    if (!rst_n) begin
        for (k = 1; k <= PIPE; k = k + 1) begin
            ctl_d[k][0] <= 1'b0;
        end
    end
end

// Lane controls travel two register stages ahead of their use: a copy per
// CTL_LANES lanes here, then a register inside each lane that drives the DSP's
// CEP and OPMODE and the capture register's clock enables. No SRL and no gate
// sits between them and their loads.
// (One-bit arrays, not vectors: synthesis merges identical bits of a vector.)
(* keep = "true", max_fanout = 64 *) reg lane_acc_en_reg [0:N_CTL-1];
(* keep = "true", max_fanout = 64 *) reg lane_acc_clear_reg [0:N_CTL-1];
(* keep = "true", max_fanout = 64 *) reg lane_cap_en_reg [0:N_CTL-1];
reg rq_cap_reg = 1'b0;  // the requantizer's own copy of the capture strobe

always @(posedge clk) begin
    for (k = 0; k < N_CTL; k = k + 1) begin
        lane_acc_en_reg[k] <= ctl_d[PIPE-3][0];
        lane_acc_clear_reg[k] <= ctl_d[PIPE-3][1];
        lane_cap_en_reg[k] <= ctl_d[PIPE-2][0] && ctl_d[PIPE-2][2];
        if (!rst_n) begin
            lane_acc_en_reg[k] <= 1'b0;
            lane_cap_en_reg[k] <= 1'b0;
        end
    end
    rq_cap_reg <= ctl_d[PIPE-1][0] && ctl_d[PIPE-1][2];
    if (!rst_n) begin
        rq_cap_reg <= 1'b0;
    end
end

wire [J_BITS-1:0] cap_j = ctl_d[PIPE][3 +: J_BITS];
wire cap_last_j = ctl_d[PIPE][3 + J_BITS];
wire cap_slot = ctl_d[PIPE][4 + J_BITS];

// ---------------------------------------------------------------- banks and lanes
// broadcast pixel: byte select register, then a copy per CTL_LANES lanes
reg [7:0] pix_reg = 8'd0;
(* keep = "true", max_fanout = 64 *) reg [7:0] lane_pix_reg [0:N_CTL-1];
always @(posedge clk) begin
    pix_reg <= img_rd_data[{ilo_d1, 3'b000} +: 8];
    for (k = 0; k < N_CTL; k = k + 1) begin
        lane_pix_reg[k] <= pix_reg;
    end
end

wire [NB*8-1:0] bank_q;
wire [NB*ACC_WIDTH-1:0] caps;

genvar b;
generate
    for (b = 0; b < NB; b = b + 1) begin : g_lane
        mnist_weight_bank #(
            .DEPTH(DEPTH)
        ) bank_inst (
            .clk(clk),
            .wr_en(bank_we_reg[b]),
            .wr_addr(bank_wa_reg[b / CTL_LANES]),
            .wr_data(bank_wd_reg[(b % 4)*8 +: 8]),
            .rd_addr(bank_ra_reg[b / CTL_LANES]),
            .rd_data(bank_q[b*8 +: 8])
        );

        mnist_mac_lane #(
            .ACC_WIDTH(ACC_WIDTH)
        ) lane_inst (
            .clk(clk),
            .w_in(bank_q[b*8 +: 8]),
            .x_in(lane_pix_reg[b / CTL_LANES]),
            .acc_en_pre(lane_acc_en_reg[b / CTL_LANES]),
            .acc_clear_pre(lane_acc_clear_reg[b / CTL_LANES]),
            .cap_en_pre(lane_cap_en_reg[b / CTL_LANES]),
            .cap(caps[b*ACC_WIDTH +: ACC_WIDTH])
        );
    end
endgenerate

// byte y of window word q is bank 4q + y; nibble k of the word is bits
// {q, k[2:1], k[0], 2'b00} of bank_q
always @(posedge clk) begin
    for (k = 0; k < 8; k = k + 1) begin
        win_rd_data_reg[k*4 +: 4] <= bank_q[{wrd_sel_reg[k], k[2:0], 2'b00} +: 4];
    end
end

// ---------------------------------------------------------------- serial requantizer
// h = min(255, max(0, acc) >> shift_l1), one neuron per cycle. The lane
// select is a two-stage mux (16:1 per group, then across groups) on a 16-bit
// stride, so it maps onto LUT6/MUXF7/MUXF8 trees rather than a shifter. Each
// group's mux is split in two halves of the sum, each with its own copy of the
// lane counter's low bits as select (~50 LUT/MUXF loads per copy).
localparam GROUP = (NB < 16) ? NB : 16;
localparam G_BITS = $clog2(GROUP);
localparam N_GROUPS = NB / GROUP;
localparam RQ_STAGES = 4;  // group mux, lane mux, shift, clamp

localparam HALF_LO = ACC_WIDTH / 2;             // bits of the low half
localparam HALF_HI = ACC_WIDTH - HALF_LO;

reg rq_run_reg = 1'b0;
reg [LANE_BITS-1:0] rq_lane_reg = {LANE_BITS{1'b0}};

wire [LANE_BITS-1:0] rq_lane_next = rq_cap_reg ? {LANE_BITS{1'b0}}
                                  : rq_lane_reg + {{(LANE_BITS-1){1'b0}}, rq_run_reg};
reg [J_BITS-1:0] rq_j_reg = {J_BITS{1'b0}};
reg rq_slot_reg = 1'b0;
reg rq_last_j_reg = 1'b0;

reg [RQ_STAGES-1:0] rq_v_reg = {RQ_STAGES{1'b0}};     // stage holds a neuron
reg [RQ_STAGES-1:0] rq_done_reg = {RQ_STAGES{1'b0}};  // ... an image's final one
reg [7:0] rq_addr_d [1:RQ_STAGES];
reg signed [ACC_WIDTH-1:0] rq_acc_reg;
reg [ACC_WIDTH-2:0] rq_sh_reg;
reg [7:0] h_data_reg;

// n = lane + NUM_BANKS * j
wire [6:0] rq_n;
wire [N_GROUPS*32-1:0] grp_flat;
generate
    if (NPL > 1) begin : g_n_multi
        assign rq_n = {rq_j_reg, rq_lane_reg};
    end else begin : g_n_single
        assign rq_n = rq_lane_reg;
        wire unused_j = ^rq_j_reg;  // single group: j is always 0
    end

    genvar g, m;
    for (g = 0; g < N_GROUPS; g = g + 1) begin : g_rq_group
        wire [GROUP*16-1:0] pad_lo;
        wire [GROUP*16-1:0] pad_hi;
        reg [ACC_WIDTH-1:0] grp_reg;
        (* keep = "true", max_fanout = 64 *) reg [G_BITS-1:0] sel_lo_reg;
        (* keep = "true", max_fanout = 64 *) reg [G_BITS-1:0] sel_hi_reg;
        for (m = 0; m < GROUP; m = m + 1) begin : g_pad
            wire [ACC_WIDTH-1:0] cap_m = caps[(g*GROUP + m)*ACC_WIDTH +: ACC_WIDTH];
            assign pad_lo[m*16 +: 16] = {{(16-HALF_LO){1'b0}}, cap_m[HALF_LO-1:0]};
            assign pad_hi[m*16 +: 16] = {{(16-HALF_HI){1'b0}}, cap_m[ACC_WIDTH-1:HALF_LO]};
        end
        always @(posedge clk) begin
            sel_lo_reg <= rq_lane_next[G_BITS-1:0];
            sel_hi_reg <= rq_lane_next[G_BITS-1:0];
            grp_reg <= {pad_hi[{sel_hi_reg, 4'b0000} +: HALF_HI],
                        pad_lo[{sel_lo_reg, 4'b0000} +: HALF_LO]};
        end
        assign grp_flat[g*32 +: 32] = {{(32-ACC_WIDTH){1'b0}}, grp_reg};
    end

    if (N_GROUPS > 1) begin : g_rq_multi
        reg [LANE_BITS-G_BITS-1:0] grp_sel_reg;
        always @(posedge clk) begin
            grp_sel_reg <= rq_lane_reg[LANE_BITS-1:G_BITS];
            rq_acc_reg <= grp_flat[{grp_sel_reg, 5'b00000} +: ACC_WIDTH];
        end
    end else begin : g_rq_single
        always @(posedge clk) begin
            rq_acc_reg <= grp_flat[ACC_WIDTH-1:0];
        end
    end
endgenerate

integer r;
always @(posedge clk) begin
    rq_lane_reg <= rq_lane_next;
    if (rq_cap_reg) begin
        rq_run_reg <= 1'b1;
        rq_j_reg <= cap_j;
        rq_slot_reg <= cap_slot;
        rq_last_j_reg <= cap_last_j;
    end else if (rq_run_reg && rq_lane_reg == LAST_LANE) begin
        rq_run_reg <= 1'b0;
    end

    rq_v_reg <= {rq_v_reg[RQ_STAGES-2:0], rq_run_reg};
    rq_done_reg <= {rq_done_reg[RQ_STAGES-2:0],
                    rq_run_reg && rq_last_j_reg && rq_lane_reg == LAST_LANE};
    rq_addr_d[1] <= {rq_slot_reg, rq_n};
    for (r = 2; r <= RQ_STAGES; r = r + 1) begin
        rq_addr_d[r] <= rq_addr_d[r-1];
    end

    rq_sh_reg <= rq_acc_reg[ACC_WIDTH-1] ? {(ACC_WIDTH-1){1'b0}}
                                         : rq_acc_reg[ACC_WIDTH-2:0] >> shift_l1;
    h_data_reg <= (|rq_sh_reg[ACC_WIDTH-2:8]) ? 8'hFF : rq_sh_reg[7:0];

    if (!rst_n || start) begin
        rq_run_reg <= 1'b0;
        rq_v_reg <= {RQ_STAGES{1'b0}};
        rq_done_reg <= {RQ_STAGES{1'b0}};
    end
end

assign h_wr_en = rq_v_reg[RQ_STAGES-1];
assign h_wr_addr = rq_addr_d[RQ_STAGES];
assign h_wr_data = h_data_reg;
assign h_done = rq_done_reg[RQ_STAGES-1];

endmodule

`resetall
