`resetall
`timescale 1ns / 1ps
`default_nettype none

`include "mnist_regmap.vh"

// AXI4-Lite register file and weight-window port of mnist_accel.
// Registers 0x000-0x0FF follow pynq_mnist/hardware/regmap.py; 0x20000-0x3FFFF is the
// weight window, forwarded word by word to the banks (win_*). Undefined
// addresses, and window accesses while busy, answer SLVERR (reads return 0).
//
// Races with the engine (hw/README.md, "Control semantics"): START while busy
// or draining is refused with SLVERR and sets STATUS.START_REJECTED; a window
// read that meets an accepted START, or whose bank answer is lost to the
// engine reset of a SOFT_RESET, answers SLVERR; DONE of a batch that ends in
// the cycle a new START is accepted is cleared by that START.
module mnist_ctrl_axil #(
    // weight banks = MAC lanes, reported in the NUM_BANKS register; 8..128, divides 128
    parameter NUM_BANKS = 64,
    // copies of the start pulse, one per engine block (hw/README.md, "Timing (150 MHz)")
    parameter START_COPIES = 4
) (
    input  wire                                 clk,
    input  wire                                 rst_n,

    // AXI4-Lite slave
    input  wire [`MNIST_AXIL_ADDR_WIDTH-1:0]    s_axi_awaddr,
    input  wire                                 s_axi_awvalid,
    output wire                                 s_axi_awready,
    input  wire [`MNIST_AXIL_DATA_WIDTH-1:0]    s_axi_wdata,
    input  wire [`MNIST_AXIL_DATA_WIDTH/8-1:0]  s_axi_wstrb,
    input  wire                                 s_axi_wvalid,
    output wire                                 s_axi_wready,
    output wire [1:0]                           s_axi_bresp,
    output wire                                 s_axi_bvalid,
    input  wire                                 s_axi_bready,
    input  wire [`MNIST_AXIL_ADDR_WIDTH-1:0]    s_axi_araddr,
    input  wire                                 s_axi_arvalid,
    output wire                                 s_axi_arready,
    output wire [`MNIST_AXIL_DATA_WIDTH-1:0]    s_axi_rdata,
    output wire [1:0]                           s_axi_rresp,
    output wire                                 s_axi_rvalid,
    input  wire                                 s_axi_rready,

    // control to the engine
    output wire                                 start,        // pulse: batch start, N_IMAGES != 0
    output wire [START_COPIES-1:0]              start_copy,   // the same pulse, one per block
    output wire                                 start_empty,  // pulse: START with N_IMAGES == 0
    output wire                                 soft_reset,   // one-cycle pulse
    output wire [31:0]                          n_images,
    output wire [`MNIST_SHIFT_WIDTH-1:0]        shift_l1,
    output wire [`MNIST_SHIFT_WIDTH-1:0]        shift_l2,
    output wire                                 interrupt,

    // status from the engine
    input  wire                                 busy,
    input  wire                                 draining,     // SOFT_RESET still flushing
    input  wire                                 eng_reset,    // engine reset: bank reads lost
    input  wire                                 done_set,     // pulse: batch finished
    input  wire [3:0]                           error_set,    // pulse per ERROR_CAUSE bit
    input  wire [31:0]                          images_done,
    input  wire [31:0]                          cycles,

    // weight window, word index = (byte offset - 0x20000) / 4, always < 101632 / 4
    output wire                                 win_wr_en,
    output wire [`MNIST_WIN_WORD_WIDTH-1:0]      win_wr_addr,
    output wire [31:0]                          win_wr_data,
    output wire [3:0]                           win_wr_strb,
    output wire                                 win_rd_en,
    output wire [`MNIST_WIN_WORD_WIDTH-1:0]      win_rd_addr,
    input  wire                                 win_rd_valid,
    input  wire [31:0]                          win_rd_data
);

localparam ADDR_WIDTH = `MNIST_AXIL_ADDR_WIDTH;
localparam DATA_WIDTH = `MNIST_AXIL_DATA_WIDTH;
localparam SHIFT_WIDTH = `MNIST_SHIFT_WIDTH;
localparam WIN_WORDS = `MNIST_WEIGHT_WINDOW_BYTES / 4;
localparam [ADDR_WIDTH-1:0] WIN_BASE = `MNIST_WEIGHT_WINDOW_OFFSET;
localparam [ADDR_WIDTH-1:0] WIN_WORDS_A = WIN_WORDS[ADDR_WIDTH-1:0];
localparam [ADDR_WIDTH-1:0] REG_SPACE = `MNIST_REG_SPACE_BYTES;
localparam [1:0] RESP_OKAY = 2'b00;
localparam [1:0] RESP_SLVERR = 2'b10;
localparam [31:0] NUM_BANKS_VALUE = NUM_BANKS;

localparam WIN_WORD_WIDTH = `MNIST_WIN_WORD_WIDTH;

initial begin
    if (NUM_BANKS < 8 || NUM_BANKS > 128 || (128 % NUM_BANKS) != 0) begin
        $error("%m: NUM_BANKS=%0d must be 8..128 and divide 128", NUM_BANKS);
        $finish;
    end
end

// ---------------------------------------------------------------- decode
function automatic is_window(input [ADDR_WIDTH-1:0] a);
    is_window = a >= WIN_BASE && ((a - WIN_BASE) >> 2) < WIN_WORDS_A;
endfunction


// ---------------------------------------------------------------- registers
// batch start: ~220 loads in the engine; start_reg serves this module and the batch
// control, each engine block gets its own copy (same D, kept apart by KEEP)
reg start_reg = 1'b0;
reg start_next;
reg start_empty_reg = 1'b0, start_empty_next;
reg start_rejected_reg = 1'b0, start_rejected_next;
reg soft_reset_reg = 1'b0, soft_reset_next;
reg irq_en_reg = 1'b0, irq_en_next;
reg done_reg = 1'b0, done_next;
reg error_reg = 1'b0, error_next;
reg [3:0] cause_reg = 4'd0, cause_next;
reg [31:0] n_images_reg = 32'd0, n_images_next;
reg n_images_zero_reg = 1'b1;  // N_IMAGES == 0, precomputed at the write
reg [SHIFT_WIDTH-1:0] shift_l1_reg = {SHIFT_WIDTH{1'b0}}, shift_l1_next;
reg [SHIFT_WIDTH-1:0] shift_l2_reg = {SHIFT_WIDTH{1'b0}}, shift_l2_next;
reg [31:0] owner_tag_reg = 32'd0, owner_tag_next;
reg interrupt_reg = 1'b0;

// write channel: accept AW and W together, one transaction every other cycle
reg awready_reg = 1'b0, awready_next;
reg bvalid_reg = 1'b0, bvalid_next;
reg [1:0] bresp_reg = RESP_OKAY, bresp_next;
reg win_wr_en_reg = 1'b0, win_wr_en_next;
reg [WIN_WORD_WIDTH-1:0] win_wr_addr_reg = {WIN_WORD_WIDTH{1'b0}}, win_wr_addr_next;
reg [31:0] win_wr_data_reg = 32'd0, win_wr_data_next;
reg [3:0] win_wr_strb_reg = 4'd0, win_wr_strb_next;

// read channel
reg arready_reg = 1'b0, arready_next;
reg rvalid_reg = 1'b0, rvalid_next;
reg [1:0] rresp_reg = RESP_OKAY, rresp_next;
reg [DATA_WIDTH-1:0] rdata_reg = {DATA_WIDTH{1'b0}}, rdata_next;
reg rd_wait_reg = 1'b0, rd_wait_next;
reg win_rd_en_reg = 1'b0, win_rd_en_next;
reg [WIN_WORD_WIDTH-1:0] win_rd_addr_reg = {WIN_WORD_WIDTH{1'b0}}, win_rd_addr_next;

assign s_axi_awready = awready_reg;
assign s_axi_wready = awready_reg;
assign s_axi_bresp = bresp_reg;
assign s_axi_bvalid = bvalid_reg;
assign s_axi_arready = arready_reg;
assign s_axi_rdata = rdata_reg;
assign s_axi_rresp = rresp_reg;
assign s_axi_rvalid = rvalid_reg;

assign start = start_reg;

genvar copy;
generate
    for (copy = 0; copy < START_COPIES; copy = copy + 1) begin : g_start_copy
        (* keep = "true", max_fanout = 64 *) reg start_copy_reg = 1'b0;
        always @(posedge clk) begin
            start_copy_reg <= start_next && rst_n;
        end
        assign start_copy[copy] = start_copy_reg;
    end
endgenerate
assign start_empty = start_empty_reg;
assign soft_reset = soft_reset_reg;
assign n_images = n_images_reg;
assign shift_l1 = shift_l1_reg;
assign shift_l2 = shift_l2_reg;
assign interrupt = interrupt_reg;

assign win_wr_en = win_wr_en_reg;
assign win_wr_addr = win_wr_addr_reg;
assign win_wr_data = win_wr_data_reg;
assign win_wr_strb = win_wr_strb_reg;
assign win_rd_en = win_rd_en_reg;
assign win_rd_addr = win_rd_addr_reg;

// ---------------------------------------------------------------- write path
// byte lanes within a word carry no address meaning (WSTRB selects them)
wire unused_addr_lsbs = ^{s_axi_awaddr[1:0], s_axi_araddr[1:0]};

wire wr_fire = awready_reg;  // AW and W both handshake in this cycle
wire [ADDR_WIDTH-1:0] wa = {s_axi_awaddr[ADDR_WIDTH-1:2], 2'b00};
wire [DATA_WIDTH-1:0] wd = s_axi_wdata;
wire [WIN_WORD_WIDTH-1:0] wa_word = wa[WIN_WORD_WIDTH+1:2] - WIN_BASE[WIN_WORD_WIDTH+1:2];

always @* begin
    awready_next = 1'b0;
    bvalid_next = bvalid_reg && !s_axi_bready;
    bresp_next = bresp_reg;
    win_wr_en_next = 1'b0;
    win_wr_addr_next = win_wr_addr_reg;
    win_wr_data_next = win_wr_data_reg;
    win_wr_strb_next = win_wr_strb_reg;

    start_next = 1'b0;
    start_empty_next = 1'b0;
    start_rejected_next = start_rejected_reg;
    soft_reset_next = 1'b0;
    irq_en_next = irq_en_reg;
    done_next = done_reg;
    error_next = error_reg;
    cause_next = cause_reg;
    n_images_next = n_images_reg;
    shift_l1_next = shift_l1_reg;
    shift_l2_next = shift_l2_reg;
    owner_tag_next = owner_tag_reg;

    if (!awready_reg && s_axi_awvalid && s_axi_wvalid && (!bvalid_reg || s_axi_bready)) begin
        awready_next = 1'b1;
    end

    if (wr_fire) begin
        bvalid_next = 1'b1;
        bresp_next = RESP_OKAY;
        if (is_window(wa)) begin
            // any weight write, even a refused one, voids the owner's claim
            owner_tag_next = 32'd0;
            if (busy) begin
                bresp_next = RESP_SLVERR;
            end else begin
                win_wr_en_next = 1'b1;
                win_wr_addr_next = wa_word;
                win_wr_data_next = wd;
                win_wr_strb_next = s_axi_wstrb;
            end
        end else if (wa < REG_SPACE) begin
            case (wa)
                `MNIST_REG_ID, `MNIST_REG_NUM_BANKS, `MNIST_REG_LAYER_SIZES,
                `MNIST_REG_ERROR_CAUSE, `MNIST_REG_IMAGES_DONE, `MNIST_REG_CYCLES: begin
                    // read-only: the write is ignored with OKAY
                end
                `MNIST_REG_CTRL: begin
                    if (s_axi_wstrb[0]) begin
                        if (wd[`MNIST_CTRL_SOFT_RESET_BIT]) begin
                            soft_reset_next = 1'b1;
                            irq_en_next = wd[`MNIST_CTRL_IRQ_EN_BIT];
                        end else if (wd[`MNIST_CTRL_START_BIT] && (busy || draining)) begin
                            // refused as a whole: IRQ_EN keeps its value too
                            bresp_next = RESP_SLVERR;
                            start_rejected_next = 1'b1;
                        end else begin
                            start_next = wd[`MNIST_CTRL_START_BIT] && !n_images_zero_reg;
                            start_empty_next = wd[`MNIST_CTRL_START_BIT] && n_images_zero_reg;
                            irq_en_next = wd[`MNIST_CTRL_IRQ_EN_BIT];
                        end
                    end
                end
                `MNIST_REG_STATUS: begin
                    if (s_axi_wstrb[0]) begin
                        if (wd[`MNIST_STATUS_DONE_BIT]) done_next = 1'b0;
                        if (wd[`MNIST_STATUS_ERROR_BIT]) error_next = 1'b0;
                        if (wd[`MNIST_STATUS_START_REJECTED_BIT]) start_rejected_next = 1'b0;
                    end
                end
                `MNIST_REG_N_IMAGES: begin
                    if (s_axi_wstrb[0]) n_images_next[7:0] = wd[7:0];
                    if (s_axi_wstrb[1]) n_images_next[15:8] = wd[15:8];
                    if (s_axi_wstrb[2]) n_images_next[23:16] = wd[23:16];
                    if (s_axi_wstrb[3]) n_images_next[31:24] = wd[31:24];
                end
                `MNIST_REG_SHIFT_L1: begin
                    if (s_axi_wstrb[0]) shift_l1_next = wd[SHIFT_WIDTH-1:0];
                    owner_tag_next = 32'd0;
                end
                `MNIST_REG_SHIFT_L2: begin
                    if (s_axi_wstrb[0]) shift_l2_next = wd[SHIFT_WIDTH-1:0];
                    owner_tag_next = 32'd0;
                end
                `MNIST_REG_OWNER_TAG: begin
                    if (s_axi_wstrb[0]) owner_tag_next[7:0] = wd[7:0];
                    if (s_axi_wstrb[1]) owner_tag_next[15:8] = wd[15:8];
                    if (s_axi_wstrb[2]) owner_tag_next[23:16] = wd[23:16];
                    if (s_axi_wstrb[3]) owner_tag_next[31:24] = wd[31:24];
                end
                default: bresp_next = RESP_SLVERR;
            endcase
        end else begin
            bresp_next = RESP_SLVERR;
        end
    end

    // Events from the engine first: a batch can only end in the cycle a START is
    // accepted (BUSY just fell), and then that START clears its DONE, so BUSY and
    // DONE never stand together. SOFT_RESET clears the same sticky bits.
    if (done_set) done_next = 1'b1;
    if (|error_set) begin
        error_next = 1'b1;
        cause_next = cause_next | error_set;
    end
    if (start_next || start_empty_next || soft_reset_next) begin
        done_next = 1'b0;
        error_next = 1'b0;
        cause_next = 4'd0;
        start_rejected_next = 1'b0;
    end
end

// ---------------------------------------------------------------- read path
// The address is decoded one cycle ahead of the handshake: ARREADY rises only
// after a cycle with ARVALID, and ARADDR stays stable from ARVALID to the
// handshake (AXI A3.2.1), so the decode registered in that cycle is the decode
// of the address being accepted. RVALID comes no later than before.
localparam RD_ID = 0, RD_NUM_BANKS = 1, RD_LAYER_SIZES = 2, RD_CTRL = 3, RD_STATUS = 4,
           RD_ERROR_CAUSE = 5, RD_N_IMAGES = 6, RD_SHIFT_L1 = 7, RD_SHIFT_L2 = 8,
           RD_IMAGES_DONE = 9, RD_CYCLES = 10, RD_OWNER_TAG = 11, RD_REGS = 12;

function automatic [RD_REGS-1:0] rd_select(input [ADDR_WIDTH-1:0] a);
    begin
        rd_select = {RD_REGS{1'b0}};
        case (a)
            `MNIST_REG_ID:          rd_select[RD_ID] = 1'b1;
            `MNIST_REG_NUM_BANKS:   rd_select[RD_NUM_BANKS] = 1'b1;
            `MNIST_REG_LAYER_SIZES: rd_select[RD_LAYER_SIZES] = 1'b1;
            `MNIST_REG_CTRL:        rd_select[RD_CTRL] = 1'b1;
            `MNIST_REG_STATUS:      rd_select[RD_STATUS] = 1'b1;
            `MNIST_REG_ERROR_CAUSE: rd_select[RD_ERROR_CAUSE] = 1'b1;
            `MNIST_REG_N_IMAGES:    rd_select[RD_N_IMAGES] = 1'b1;
            `MNIST_REG_SHIFT_L1:    rd_select[RD_SHIFT_L1] = 1'b1;
            `MNIST_REG_SHIFT_L2:    rd_select[RD_SHIFT_L2] = 1'b1;
            `MNIST_REG_IMAGES_DONE: rd_select[RD_IMAGES_DONE] = 1'b1;
            `MNIST_REG_CYCLES:      rd_select[RD_CYCLES] = 1'b1;
            `MNIST_REG_OWNER_TAG:   rd_select[RD_OWNER_TAG] = 1'b1;
            default:                rd_select = {RD_REGS{1'b0}};
        endcase
    end
endfunction

// AR handshakes in this cycle; RVALID may only rise after it (AXI A3.3.1)
wire rd_fire = arready_reg;
wire [ADDR_WIDTH-1:0] ra = {s_axi_araddr[ADDR_WIDTH-1:2], 2'b00};
wire [WIN_WORD_WIDTH-1:0] ra_word = ra[WIN_WORD_WIDTH+1:2] - WIN_BASE[WIN_WORD_WIDTH+1:2];
reg [RD_REGS-1:0] rd_sel_reg = {RD_REGS{1'b0}};        // one-hot register, 0: none
reg rd_window_reg = 1'b0;
reg [WIN_WORD_WIDTH-1:0] rd_word_reg = {WIN_WORD_WIDTH{1'b0}};

always @(posedge clk) begin
    rd_sel_reg <= rd_select(ra);
    rd_window_reg <= is_window(ra);
    rd_word_reg <= ra_word;
end

wire [DATA_WIDTH-1:0] ctrl_value =
    {{(DATA_WIDTH-1){1'b0}}, irq_en_reg} << `MNIST_CTRL_IRQ_EN_BIT;
wire [DATA_WIDTH-1:0] status_value =
      ({{(DATA_WIDTH-1){1'b0}}, !busy && !draining} << `MNIST_STATUS_IDLE_BIT)
    | ({{(DATA_WIDTH-1){1'b0}}, busy} << `MNIST_STATUS_BUSY_BIT)
    | ({{(DATA_WIDTH-1){1'b0}}, done_reg} << `MNIST_STATUS_DONE_BIT)
    | ({{(DATA_WIDTH-1){1'b0}}, error_reg} << `MNIST_STATUS_ERROR_BIT)
    | ({{(DATA_WIDTH-1){1'b0}}, start_rejected_reg} << `MNIST_STATUS_START_REJECTED_BIT)
    | ({{(DATA_WIDTH-1){1'b0}}, draining} << `MNIST_STATUS_DRAINING_BIT);
wire [DATA_WIDTH-1:0] shift_l1_value = {{(DATA_WIDTH-SHIFT_WIDTH){1'b0}}, shift_l1_reg};
wire [DATA_WIDTH-1:0] shift_l2_value = {{(DATA_WIDTH-SHIFT_WIDTH){1'b0}}, shift_l2_reg};
wire [DATA_WIDTH-1:0] reg_rdata =
      ({DATA_WIDTH{rd_sel_reg[RD_ID]}} & `MNIST_ID_VALUE)
    | ({DATA_WIDTH{rd_sel_reg[RD_NUM_BANKS]}} & NUM_BANKS_VALUE)
    | ({DATA_WIDTH{rd_sel_reg[RD_LAYER_SIZES]}} & `MNIST_LAYER_SIZES_VALUE)
    | ({DATA_WIDTH{rd_sel_reg[RD_CTRL]}} & ctrl_value)
    | ({DATA_WIDTH{rd_sel_reg[RD_STATUS]}} & status_value)
    | ({DATA_WIDTH{rd_sel_reg[RD_ERROR_CAUSE]}} & {28'd0, cause_reg})
    | ({DATA_WIDTH{rd_sel_reg[RD_N_IMAGES]}} & n_images_reg)
    | ({DATA_WIDTH{rd_sel_reg[RD_SHIFT_L1]}} & shift_l1_value)
    | ({DATA_WIDTH{rd_sel_reg[RD_SHIFT_L2]}} & shift_l2_value)
    | ({DATA_WIDTH{rd_sel_reg[RD_IMAGES_DONE]}} & images_done)
    | ({DATA_WIDTH{rd_sel_reg[RD_CYCLES]}} & cycles)
    | ({DATA_WIDTH{rd_sel_reg[RD_OWNER_TAG]}} & owner_tag_reg);
wire reg_hit = |rd_sel_reg;

always @* begin
    arready_next = 1'b0;
    rvalid_next = rvalid_reg && !s_axi_rready;
    rresp_next = rresp_reg;
    rdata_next = rdata_reg;
    rd_wait_next = rd_wait_reg;
    win_rd_en_next = 1'b0;
    win_rd_addr_next = win_rd_addr_reg;

    if (rd_wait_reg) begin
        if (win_rd_valid) begin
            rd_wait_next = 1'b0;
            rvalid_next = 1'b1;
            rresp_next = RESP_OKAY;
            rdata_next = win_rd_data;
        end else if (eng_reset) begin
            // the engine reset cleared layer 1's read pipeline: this answer never comes
            rd_wait_next = 1'b0;
            rvalid_next = 1'b1;
            rresp_next = RESP_SLVERR;
            rdata_next = {DATA_WIDTH{1'b0}};
        end
    end else if (rd_fire) begin
        if (rd_window_reg) begin
            // layer 1 ignores a bank read in the cycle the batch starts
            if (busy || start_next || start_reg) begin
                rvalid_next = 1'b1;
                rresp_next = RESP_SLVERR;
                rdata_next = {DATA_WIDTH{1'b0}};
            end else begin
                rd_wait_next = 1'b1;
                win_rd_en_next = 1'b1;
                win_rd_addr_next = rd_word_reg;
            end
        end else begin
            rvalid_next = 1'b1;
            rresp_next = reg_hit ? RESP_OKAY : RESP_SLVERR;
            rdata_next = reg_rdata;
        end
    end else if (!arready_reg && s_axi_arvalid && (!rvalid_reg || s_axi_rready)) begin
        arready_next = 1'b1;
    end
end

always @(posedge clk) begin
    awready_reg <= awready_next;
    bvalid_reg <= bvalid_next;
    bresp_reg <= bresp_next;
    win_wr_en_reg <= win_wr_en_next;
    win_wr_addr_reg <= win_wr_addr_next;
    win_wr_data_reg <= win_wr_data_next;
    win_wr_strb_reg <= win_wr_strb_next;

    arready_reg <= arready_next;
    rvalid_reg <= rvalid_next;
    rresp_reg <= rresp_next;
    rdata_reg <= rdata_next;
    rd_wait_reg <= rd_wait_next;
    win_rd_en_reg <= win_rd_en_next;
    win_rd_addr_reg <= win_rd_addr_next;

    start_reg <= start_next;
    start_empty_reg <= start_empty_next;
    start_rejected_reg <= start_rejected_next;
    n_images_zero_reg <= n_images_next == 32'd0;
    soft_reset_reg <= soft_reset_next;
    irq_en_reg <= irq_en_next;
    done_reg <= done_next;
    error_reg <= error_next;
    cause_reg <= cause_next;
    n_images_reg <= n_images_next;
    shift_l1_reg <= shift_l1_next;
    shift_l2_reg <= shift_l2_next;
    owner_tag_reg <= owner_tag_next;
    interrupt_reg <= done_next && irq_en_next;

    if (!rst_n) begin
        awready_reg <= 1'b0;
        bvalid_reg <= 1'b0;
        win_wr_en_reg <= 1'b0;
        arready_reg <= 1'b0;
        rvalid_reg <= 1'b0;
        rd_wait_reg <= 1'b0;
        win_rd_en_reg <= 1'b0;
        start_reg <= 1'b0;
        start_empty_reg <= 1'b0;
        start_rejected_reg <= 1'b0;
        n_images_zero_reg <= 1'b1;
        soft_reset_reg <= 1'b0;
        irq_en_reg <= 1'b0;
        done_reg <= 1'b0;
        error_reg <= 1'b0;
        cause_reg <= 4'd0;
        n_images_reg <= 32'd0;
        shift_l1_reg <= {SHIFT_WIDTH{1'b0}};
        shift_l2_reg <= {SHIFT_WIDTH{1'b0}};
        owner_tag_reg <= 32'd0;
        interrupt_reg <= 1'b0;
    end
end

`ifdef MNIST_FORMAL_CTRL_AXIL
// ---------------------------------------------------------------- formal (hw/formal)
// AXI4-Lite slave properties and "DONE never with BUSY", proven by k-induction
// in ctrl_axil.sby. The master is assumed to keep VALID and payload until
// accepted; the engine to answer every window read 4 cycles after win_rd_en
// unless eng_reset clears its read pipeline first (as layer 1 does), and busy /
// done_set to follow mnist_top's batch control. mnist_top is checked in top.sby.
localparam F_K_WRITE = 1;   // cycles from the AW/W handshake to BVALID, at most
localparam F_K_READ = 6;    // cycles from the AR handshake to RVALID, at most
reg f_past_valid = 1'b0;
reg [3:0] f_win_pipe = 4'd0;          // window reads in the engine's read pipeline
reg f_w_open = 1'b0;                  // AW/W accepted, B not yet accepted
reg f_r_open = 1'b0;                  // AR accepted, R not yet accepted
reg [3:0] f_b_age = 4'd0;             // cycles f_w_open without BVALID
reg [3:0] f_r_age = 4'd0;             // cycles f_r_open without RVALID
reg f_busy_prev = 1'b0;               // busy, start, start_empty, soft_reset one cycle ago
reg f_start_prev = 1'b0;
reg f_start_empty_prev = 1'b0;
reg f_soft_reset_prev = 1'b0;
wire f_aw_fire = s_axi_awvalid && s_axi_awready;
wire f_w_fire = s_axi_wvalid && s_axi_wready;
wire f_b_fire = s_axi_bvalid && s_axi_bready;
wire f_ar_fire = s_axi_arvalid && s_axi_arready;
wire f_r_fire = s_axi_rvalid && s_axi_rready;

always @(posedge clk) begin
    f_past_valid <= 1'b1;
    // like layer 1's read pipeline, cleared by the engine reset
    f_win_pipe <= eng_reset ? 4'd0 : {f_win_pipe[2:0], win_rd_en};
    if (f_aw_fire) f_w_open <= 1'b1;
    else if (f_b_fire) f_w_open <= 1'b0;
    if (f_ar_fire) f_r_open <= 1'b1;
    else if (f_r_fire) f_r_open <= 1'b0;
    f_b_age <= (f_w_open && !s_axi_bvalid) ? f_b_age + 4'd1 : 4'd0;
    f_r_age <= (f_r_open && !s_axi_rvalid) ? f_r_age + 4'd1 : 4'd0;
    f_busy_prev <= busy;
    f_start_prev <= start;
    f_start_empty_prev <= start_empty;
    f_soft_reset_prev <= soft_reset;
    if (!rst_n) begin
        f_win_pipe <= 4'd0;
        f_w_open <= 1'b0;
        f_r_open <= 1'b0;
        f_b_age <= 4'd0;
        f_r_age <= 4'd0;
    end
end

// the environment
always @* begin
    assume(rst_n == f_past_valid);
    assume(win_rd_valid == f_win_pipe[3]);
    // mnist_top: BUSY rises the cycle after a batch start and falls with done_set
    // (unless SOFT_RESET); START with N_IMAGES = 0 gives done_set at once
    if (!rst_n || !f_past_valid) assume(!busy && !done_set);
    if (f_past_valid && rst_n) begin
        if (f_start_prev) assume(busy);
        if (busy && !f_busy_prev) assume(f_start_prev);
        if (f_soft_reset_prev) assume(!busy && !done_set);
        else if (f_busy_prev && !busy) assume(done_set);
        if (done_set) assume((f_busy_prev && !busy) || f_start_empty_prev);
    end
end

always @(posedge clk) begin
    if (f_past_valid && $past(rst_n)) begin
        if ($past(s_axi_awvalid && !s_axi_awready)) assume(s_axi_awvalid && $stable(s_axi_awaddr));
        if ($past(s_axi_wvalid && !s_axi_wready)) begin
            assume(s_axi_wvalid && $stable(s_axi_wdata) && $stable(s_axi_wstrb));
        end
        if ($past(s_axi_arvalid && !s_axi_arready)) assume(s_axi_arvalid && $stable(s_axi_araddr));
    end
end

// the properties
always @(posedge clk) begin
    if (f_past_valid && $past(rst_n) && rst_n) begin
        if ($past(s_axi_bvalid && !s_axi_bready)) assert(s_axi_bvalid && $stable(s_axi_bresp));
        if ($past(s_axi_rvalid && !s_axi_rready)) begin
            assert(s_axi_rvalid && $stable(s_axi_rdata) && $stable(s_axi_rresp));
        end
    end
end

always @* begin
    if (f_past_valid && rst_n) begin
        // one response per request: none without an open request, no second
        // request while one is open, and each answered within a bound
        if (s_axi_bvalid) assert(f_w_open);
        if (f_aw_fire || f_w_fire) assert(!f_w_open && f_aw_fire && f_w_fire);
        if (s_axi_rvalid) assert(f_r_open);
        if (f_ar_fire) assert(!f_r_open);
        assert(f_b_age < F_K_WRITE && f_r_age < F_K_READ);
        // STATUS never shows DONE and BUSY together
        assert(!(done_reg && busy));
        // invariants
        if (awready_reg) assert(s_axi_awvalid && s_axi_wvalid && !bvalid_reg);
        assert(f_w_open == bvalid_reg);
        if (arready_reg) assert(s_axi_arvalid && !rvalid_reg && !rd_wait_reg);
        // the read decode registered one cycle ahead is that of the address accepted
        if (arready_reg) begin
            assert(rd_sel_reg == rd_select(ra) && rd_window_reg == is_window(ra)
                   && rd_word_reg == ra_word);
        end
        assert($onehot0(rd_sel_reg));
        assert(f_r_open == (rvalid_reg || rd_wait_reg));
        assert(!(rvalid_reg && rd_wait_reg));
        assert(rd_wait_reg == (win_rd_en_reg || f_win_pipe != 4'd0));
        assert($onehot0({win_rd_en_reg, f_win_pipe}));
        if (rd_wait_reg) begin
            assert(f_r_age == (f_win_pipe[0] ? 4'd1 : f_win_pipe[1] ? 4'd2 : f_win_pipe[2] ? 4'd3
                               : f_win_pipe[3] ? 4'd4 : 4'd0));
        end
    end
end

// Register semantics, stated at the bus (hw/README.md, "Registers"): the
// written address and data of the previous cycle's AW/W handshake against
// what STATUS, ERROR_CAUSE and OWNER_TAG hold now.
localparam [31:0] F_WIN_LO = `MNIST_WEIGHT_WINDOW_OFFSET;
localparam [31:0] F_WIN_HI = `MNIST_WEIGHT_WINDOW_OFFSET + `MNIST_WEIGHT_WINDOW_BYTES;
wire [31:0] f_awaddr = {{(32-ADDR_WIDTH){1'b0}}, s_axi_awaddr[ADDR_WIDTH-1:2], 2'b00};
wire [31:0] f_araddr = {{(32-ADDR_WIDTH){1'b0}}, s_axi_araddr[ADDR_WIDTH-1:2], 2'b00};
wire f_aw_window = f_awaddr >= F_WIN_LO && f_awaddr < F_WIN_HI;
wire f_ar_window = f_araddr >= F_WIN_LO && f_araddr < F_WIN_HI;
wire f_clear = start || start_empty || soft_reset;  // an accepted START or SOFT_RESET, last cycle
reg f_wr_prev = 1'b0;                 // an AW/W handshake in the previous cycle ...
reg [31:0] f_wa_prev = 32'd0;         // ... its address, data and byte 0 strobe
reg [31:0] f_wd_prev = 32'd0;
reg f_ws0_prev = 1'b0;
reg f_busy_wr_prev = 1'b0;            // busy during that handshake
reg f_done_set_prev = 1'b0;
reg [3:0] f_error_set_prev = 4'd0;
reg f_done_prev = 1'b0, f_error_prev = 1'b0, f_rejected_prev = 1'b0;
reg [3:0] f_cause_prev = 4'd0;
reg [31:0] f_owner_prev = 32'd0;
reg f_ar_window_prev = 1'b0;          // a window AR handshake in the previous cycle
reg f_racing = 1'b0;                  // the open read's AR came the cycle after START's
reg f_rd_lost = 1'b0;                 // the open window read's answer was lost to the engine reset

always @(posedge clk) begin
    f_wr_prev <= f_aw_fire;
    f_wa_prev <= f_awaddr;
    f_wd_prev <= s_axi_wdata;
    f_ws0_prev <= s_axi_wstrb[0];
    f_busy_wr_prev <= busy;
    f_done_set_prev <= done_set;
    f_error_set_prev <= error_set;
    f_done_prev <= done_reg;
    f_error_prev <= error_reg;
    f_rejected_prev <= start_rejected_reg;
    f_cause_prev <= cause_reg;
    f_owner_prev <= owner_tag_reg;
    f_ar_window_prev <= f_ar_fire && f_ar_window;
    // start: START was accepted in the previous cycle; a window AR now races it
    if (start && f_ar_fire && f_ar_window) f_racing <= 1'b1;
    else if (f_r_fire) f_racing <= 1'b0;
    if (rd_wait_reg && eng_reset && !win_rd_valid) f_rd_lost <= 1'b1;
    else if (f_r_fire) f_rd_lost <= 1'b0;
    if (!rst_n) begin
        f_wr_prev <= 1'b0;
        f_ar_window_prev <= 1'b0;
        f_racing <= 1'b0;
        f_rd_lost <= 1'b0;
    end
end

wire f_w1c = f_wr_prev && f_wa_prev == `MNIST_REG_STATUS && f_ws0_prev;
wire f_w1c_done = f_w1c && f_wd_prev[`MNIST_STATUS_DONE_BIT];
wire f_w1c_error = f_w1c && f_wd_prev[`MNIST_STATUS_ERROR_BIT];
wire f_w1c_rejected = f_w1c && f_wd_prev[`MNIST_STATUS_START_REJECTED_BIT];
wire f_owner_void = f_wr_prev && (f_wa_prev >= F_WIN_LO && f_wa_prev < F_WIN_HI
                    || f_wa_prev == `MNIST_REG_SHIFT_L1 || f_wa_prev == `MNIST_REG_SHIFT_L2);

always @* begin
    if (f_past_valid && rst_n) begin
        // START and SOFT_RESET clear DONE, ERROR, START_REJECTED and ERROR_CAUSE
        if (f_clear) assert(!done_reg && !error_reg && !start_rejected_reg && cause_reg == 4'd0);
        // W1C: a 1 clears its bit (unless the engine sets it in the same cycle) ...
        if (f_w1c_done && !f_done_set_prev) assert(!done_reg);
        if (f_w1c_error && f_error_set_prev == 4'd0) assert(!error_reg);
        if (f_w1c_rejected) assert(!start_rejected_reg);
        // ... and nothing else does: the sticky bits hold, ERROR_CAUSE only gains bits
        if (!f_clear) begin
            if (f_done_prev && !f_w1c_done) assert(done_reg);
            if (f_error_prev && !f_w1c_error) assert(error_reg);
            if (f_rejected_prev && !f_w1c_rejected) assert(start_rejected_reg);
            assert((cause_reg & f_cause_prev) == f_cause_prev);
        end
        // OWNER_TAG: voided by any window write (even one refused while busy) and by
        // SHIFT_L1/SHIFT_L2 writes; changed by nothing but writes (not START, not SOFT_RESET)
        if (f_owner_void) assert(owner_tag_reg == 32'd0);
        else if (!(f_wr_prev && f_wa_prev == `MNIST_REG_OWNER_TAG)) begin
            assert(owner_tag_reg == f_owner_prev);
        end
        // a window read whose AR lands in the cycle of an accepted START (answered
        // in the next), or in the cycle after, or lost to the engine reset: SLVERR, 0
        if ((start && f_ar_window_prev) || f_racing || f_rd_lost) begin
            assert(s_axi_rvalid && s_axi_rresp == RESP_SLVERR
                   && s_axi_rdata == {DATA_WIDTH{1'b0}});
        end
        // invariants
        if (f_racing || f_rd_lost) assert(rvalid_reg && !rd_wait_reg);
        assert(!(f_racing && f_rd_lost));
    end
end

// the scenarios this harness is about are reachable (ctrl_axil.sby, task cover)
always @(posedge clk) begin
    if (f_past_valid && rst_n && $past(rst_n)) begin
        // W after AW, and W before AW, both accepted together
        cover(f_aw_fire && $past(s_axi_awvalid && !s_axi_wvalid, 2));
        cover(f_aw_fire && $past(s_axi_wvalid && !s_axi_awvalid, 2));
        // window reads whose AR lands in the cycle of START's handshake, or the next
        cover(start && f_ar_window_prev);
        cover(f_racing);
        // a window read lost to the engine reset
        cover(s_axi_rvalid && f_rd_lost);
        // START refused while draining; a batch ending in the cycle START is accepted
        cover(start_rejected_reg && !f_rejected_prev && draining && !busy);
        cover(start && $past(done_set));
        // W1C of DONE and of ERROR; OWNER_TAG voided by a window write refused while busy
        cover(f_w1c_done && f_done_prev && !done_reg && error_reg);
        cover(f_w1c_error && f_error_prev && !error_reg);
        cover(f_owner_void && f_busy_wr_prev && f_owner_prev != 32'd0 && f_wa_prev >= F_WIN_LO);
        // SOFT_RESET clearing a DONE
        cover(soft_reset && f_done_prev);
    end
end
`endif

endmodule

`resetall
