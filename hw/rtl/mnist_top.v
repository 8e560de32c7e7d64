`resetall
`timescale 1ns / 1ps
`default_nettype none

`include "mnist_regmap.vh"

// mnist_accel: int8 MLP 784-128-10 inference engine (docs/architecture.md).
//
//   s_axi_ctrl --> mnist_ctrl_axil --(weight window)--> mnist_layer1 banks
//                                   \-------(W2 mirror)--> mnist_layer2
//   s_axis --> mnist_stream_in (2 image slots) --> mnist_layer1 (NUM_BANKS
//   MAC lanes, serial requant) --> h (2 slots) --> mnist_layer2 (4 MACs,
//   argmax) --> mnist_result_out (FIFO, error records) --> m_axis
module mnist_top #(
    // weight banks = layer-1 MAC lanes; 32, 64 or 128 (any of 8..128 dividing 128)
    parameter NUM_BANKS = 64
) (
    input  wire                                 aclk,
    input  wire                                 aresetn,

    // AXI4-Lite control and weight window
    input  wire [`MNIST_AXIL_ADDR_WIDTH-1:0]    s_axi_ctrl_awaddr,
    input  wire [2:0]                           s_axi_ctrl_awprot,
    input  wire                                 s_axi_ctrl_awvalid,
    output wire                                 s_axi_ctrl_awready,
    input  wire [`MNIST_AXIL_DATA_WIDTH-1:0]    s_axi_ctrl_wdata,
    input  wire [`MNIST_AXIL_DATA_WIDTH/8-1:0]  s_axi_ctrl_wstrb,
    input  wire                                 s_axi_ctrl_wvalid,
    output wire                                 s_axi_ctrl_wready,
    output wire [1:0]                           s_axi_ctrl_bresp,
    output wire                                 s_axi_ctrl_bvalid,
    input  wire                                 s_axi_ctrl_bready,
    input  wire [`MNIST_AXIL_ADDR_WIDTH-1:0]    s_axi_ctrl_araddr,
    input  wire [2:0]                           s_axi_ctrl_arprot,
    input  wire                                 s_axi_ctrl_arvalid,
    output wire                                 s_axi_ctrl_arready,
    output wire [`MNIST_AXIL_DATA_WIDTH-1:0]    s_axi_ctrl_rdata,
    output wire [1:0]                           s_axi_ctrl_rresp,
    output wire                                 s_axi_ctrl_rvalid,
    input  wire                                 s_axi_ctrl_rready,

    // images in (AXI DMA MM2S)
    input  wire [`MNIST_AXIS_DATA_WIDTH-1:0]    s_axis_tdata,
    input  wire [`MNIST_AXIS_DATA_WIDTH/8-1:0]  s_axis_tkeep,
    input  wire                                 s_axis_tlast,
    input  wire                                 s_axis_tvalid,
    output wire                                 s_axis_tready,

    // results out (AXI DMA S2MM)
    output wire [`MNIST_AXIS_DATA_WIDTH-1:0]    m_axis_tdata,
    output wire [`MNIST_AXIS_DATA_WIDTH/8-1:0]  m_axis_tkeep,
    output wire                                 m_axis_tlast,
    output wire                                 m_axis_tvalid,
    input  wire                                 m_axis_tready,

    // level, STATUS.DONE & CTRL.IRQ_EN
    /* verilator lint_off SYMRSVDWORD */  // port name fixed by the contract; harmless in C++
    output wire                                 interrupt
    /* verilator lint_on SYMRSVDWORD */
);

localparam SHIFT_WIDTH = `MNIST_SHIFT_WIDTH;
// SOFT_RESET flushes the input packet up to TLAST and closes the result packet;
// either side gives up after this many cycles without a beat (its DMA was reset)
localparam FLUSH_IDLE_CYCLES = 512;
localparam WIN_WORD_WIDTH = `MNIST_WIN_WORD_WIDTH;
localparam integer W2_WORD_BASE_INT = `MNIST_W2_WORD_BASE;
localparam [WIN_WORD_WIDTH-1:0] W2_WORD_BASE = W2_WORD_BASE_INT[WIN_WORD_WIDTH-1:0];

initial begin
    if (NUM_BANKS < 8 || NUM_BANKS > 128 || (128 % NUM_BANKS) != 0) begin
        $error("%m: NUM_BANKS=%0d must be 8..128 and divide 128", NUM_BANKS);
        $finish;
    end
end

// AxPROT carries no meaning for this slave
wire unused_prot = ^{s_axi_ctrl_awprot, s_axi_ctrl_arprot};

// ---------------------------------------------------------------- register file
wire batch_start;   // registered in the register file, N_IMAGES != 0
// copies of batch_start (same register, replicated for fan-out), one per engine block
// (stream_in takes four, result_out two)
localparam START_COPIES = 8;
wire [START_COPIES-1:0] batch_start_copy;
wire start_empty;
wire soft_reset;
wire [31:0] n_images;
wire [SHIFT_WIDTH-1:0] shift_l1;
wire [SHIFT_WIDTH-1:0] shift_l2;
wire win_wr_en;
wire [WIN_WORD_WIDTH-1:0] win_wr_addr;
wire [31:0] win_wr_data;
wire [3:0] win_wr_strb;
wire win_rd_en;
wire [WIN_WORD_WIDTH-1:0] win_rd_addr;
wire win_rd_valid;
wire [31:0] win_rd_data;

reg busy_reg = 1'b0, busy_next;
reg counting_reg = 1'b0, counting_next;    // CYCLES runs until the last result beat
reg [31:0] cycles_reg = 32'd0, cycles_next;
reg done_set_reg = 1'b0, done_set_next;
reg zero_err_reg = 1'b0, zero_err_next;
reg eng_rst_n_reg = 1'b0;    // layers 1 and 2: aresetn or SOFT_RESET
reg io_rst_n_reg = 1'b0;     // stream ends: aresetn only (SOFT_RESET aborts them)
reg abort_reg = 1'b0;        // SOFT_RESET reaches the stream ends
// copies of abort_reg for stream_in's three 32-bit counters (fan-out); no reset
// branch, so that synthesis keeps them apart (hw/README.md, "Timing (150 MHz)")
(* keep = "true", max_fanout = 64 *) reg abort_img_reg = 1'b0;
(* keep = "true", max_fanout = 64 *) reg abort_good_reg = 1'b0;
(* keep = "true", max_fanout = 64 *) reg abort_rem_reg = 1'b0;
reg [SHIFT_WIDTH-1:0] shift_l1_reg = {SHIFT_WIDTH{1'b0}}, shift_l1_next;
reg [SHIFT_WIDTH-1:0] shift_l2_reg = {SHIFT_WIDTH{1'b0}}, shift_l2_next;

wire [3:0] in_err_set;
wire [31:0] images_done;
wire in_flushing;
wire out_flushing;
// from the SOFT_RESET pulse until both stream ends have finished their packets
wire draining = soft_reset || abort_reg || in_flushing || out_flushing;
wire [3:0] error_set = in_err_set | ({3'd0, zero_err_reg} << `MNIST_ERR_ZERO_IMAGES_BIT);

mnist_ctrl_axil #(
    .NUM_BANKS(NUM_BANKS),
    .START_COPIES(START_COPIES)
) ctrl_inst (
    .clk(aclk),
    .rst_n(aresetn),
    .s_axi_awaddr(s_axi_ctrl_awaddr),
    .s_axi_awvalid(s_axi_ctrl_awvalid),
    .s_axi_awready(s_axi_ctrl_awready),
    .s_axi_wdata(s_axi_ctrl_wdata),
    .s_axi_wstrb(s_axi_ctrl_wstrb),
    .s_axi_wvalid(s_axi_ctrl_wvalid),
    .s_axi_wready(s_axi_ctrl_wready),
    .s_axi_bresp(s_axi_ctrl_bresp),
    .s_axi_bvalid(s_axi_ctrl_bvalid),
    .s_axi_bready(s_axi_ctrl_bready),
    .s_axi_araddr(s_axi_ctrl_araddr),
    .s_axi_arvalid(s_axi_ctrl_arvalid),
    .s_axi_arready(s_axi_ctrl_arready),
    .s_axi_rdata(s_axi_ctrl_rdata),
    .s_axi_rresp(s_axi_ctrl_rresp),
    .s_axi_rvalid(s_axi_ctrl_rvalid),
    .s_axi_rready(s_axi_ctrl_rready),
    .start(batch_start),
    .start_copy(batch_start_copy),
    .start_empty(start_empty),
    .soft_reset(soft_reset),
    .n_images(n_images),
    .shift_l1(shift_l1),
    .shift_l2(shift_l2),
    .interrupt(interrupt),
    .busy(busy_reg),
    .draining(draining),
    .eng_reset(!eng_rst_n_reg),
    .done_set(done_set_reg),
    .error_set(error_set),
    .images_done(images_done),
    .cycles(cycles_reg),
    .win_wr_en(win_wr_en),
    .win_wr_addr(win_wr_addr),
    .win_wr_data(win_wr_data),
    .win_wr_strb(win_wr_strb),
    .win_rd_en(win_rd_en),
    .win_rd_addr(win_rd_addr),
    .win_rd_valid(win_rd_valid),
    .win_rd_data(win_rd_data)
);

// ---------------------------------------------------------------- batch control
// The register file accepts START only while neither busy nor draining.
wire in_done;
wire out_done;
wire last_beat;

always @* begin
    busy_next = busy_reg;
    counting_next = counting_reg;
    cycles_next = cycles_reg;
    done_set_next = 1'b0;
    zero_err_next = 1'b0;
    shift_l1_next = shift_l1_reg;
    shift_l2_next = shift_l2_reg;

    if (batch_start) begin
        shift_l1_next = shift_l1;
        shift_l2_next = shift_l2;
        busy_next = 1'b1;
        counting_next = 1'b1;
        cycles_next = 32'd1;
    end else if (start_empty) begin
        // nothing to run: DONE with ZERO_IMAGES at once
        shift_l1_next = shift_l1;
        shift_l2_next = shift_l2;
        cycles_next = 32'd0;
        done_set_next = 1'b1;
        zero_err_next = 1'b1;
    end else if (busy_reg) begin
        if (counting_reg) begin
            cycles_next = cycles_reg + 32'd1;
        end
        if (last_beat) begin
            counting_next = 1'b0;
        end
        if (out_done && in_done) begin
            busy_next = 1'b0;
            done_set_next = 1'b1;
        end
    end
    if (soft_reset) begin
        busy_next = 1'b0;
        counting_next = 1'b0;
        done_set_next = 1'b0;
        zero_err_next = 1'b0;
    end
end

always @(posedge aclk) begin
    busy_reg <= busy_next;
    counting_reg <= counting_next;
    cycles_reg <= cycles_next;
    done_set_reg <= done_set_next;
    zero_err_reg <= zero_err_next;
    shift_l1_reg <= shift_l1_next;
    shift_l2_reg <= shift_l2_next;
    eng_rst_n_reg <= aresetn && !soft_reset;
    io_rst_n_reg <= aresetn;
    abort_reg <= aresetn && soft_reset;
    abort_img_reg <= aresetn && soft_reset;
    abort_good_reg <= aresetn && soft_reset;
    abort_rem_reg <= aresetn && soft_reset;

    if (!aresetn) begin
        busy_reg <= 1'b0;
        counting_reg <= 1'b0;
        cycles_reg <= 32'd0;
        done_set_reg <= 1'b0;
        zero_err_reg <= 1'b0;
    end
end

// ---------------------------------------------------------------- engine
wire eng_rst_n = eng_rst_n_reg;

wire img_avail;
wire img_release;
wire [$clog2(`MNIST_N_IN/4):0] img_rd_addr;
wire [31:0] img_rd_data;
wire err_flag;
wire [31:0] n_good;
wire h_wr_en;
wire [7:0] h_wr_addr;
wire [7:0] h_wr_data;
wire h_done;
wire h_release;
wire res_room;
wire res_valid;
wire [31:0] res_data;

// W2 words of the window are mirrored into layer 2
reg w2_wr_en_reg = 1'b0;
reg [8:0] w2_wr_addr_reg = 9'd0;
reg [31:0] w2_wr_data_reg = 32'd0;
reg [3:0] w2_wr_strb_reg = 4'd0;
// W2_WORD_BASE is a multiple of 512, so the low 9 bits give o*32 + n/4
wire [8:0] w2_word = win_wr_addr[8:0] - W2_WORD_BASE[8:0];

always @(posedge aclk) begin
    w2_wr_en_reg <= win_wr_en && win_wr_addr >= W2_WORD_BASE;
    w2_wr_addr_reg <= w2_word;
    w2_wr_data_reg <= win_wr_data;
    w2_wr_strb_reg <= win_wr_strb;
    if (!aresetn) begin
        w2_wr_en_reg <= 1'b0;
    end
end

mnist_stream_in #(
    .FLUSH_IDLE_CYCLES(FLUSH_IDLE_CYCLES),
    .START_COPIES(4),
    .ABORT_COPIES(4)
) stream_in_inst (
    .clk(aclk),
    .rst_n(io_rst_n_reg),
    .abort({abort_rem_reg, abort_good_reg, abort_img_reg, abort_reg}),
    .start(batch_start_copy[3:0]),
    .n_images(n_images),
    .s_axis_tdata(s_axis_tdata),
    .s_axis_tkeep(s_axis_tkeep),
    .s_axis_tlast(s_axis_tlast),
    .s_axis_tvalid(s_axis_tvalid),
    .s_axis_tready(s_axis_tready),
    .img_avail(img_avail),
    .img_release(img_release),
    .img_rd_addr(img_rd_addr),
    .img_rd_data(img_rd_data),
    .err_set(in_err_set),
    .err_flag(err_flag),
    .n_good(n_good),
    .in_done(in_done),
    .flushing(in_flushing)
);

mnist_layer1 #(
    .NUM_BANKS(NUM_BANKS)
) layer1_inst (
    .clk(aclk),
    .rst_n(eng_rst_n),
    .start(batch_start_copy[4]),
    .shift_l1(shift_l1_reg),
    .win_wr_en(win_wr_en),
    .win_wr_addr(win_wr_addr),
    .win_wr_data(win_wr_data),
    .win_wr_strb(win_wr_strb),
    .win_rd_en(win_rd_en),
    .win_rd_addr(win_rd_addr),
    .win_rd_valid(win_rd_valid),
    .win_rd_data(win_rd_data),
    .img_avail(img_avail),
    .img_release(img_release),
    .img_rd_addr(img_rd_addr),
    .img_rd_data(img_rd_data),
    .h_wr_en(h_wr_en),
    .h_wr_addr(h_wr_addr),
    .h_wr_data(h_wr_data),
    .h_done(h_done),
    .h_release(h_release)
);

mnist_layer2 layer2_inst (
    .clk(aclk),
    .rst_n(eng_rst_n),
    .start(batch_start_copy[5]),
    .shift_l2(shift_l2_reg),
    .w2_wr_en(w2_wr_en_reg),
    .w2_wr_addr(w2_wr_addr_reg),
    .w2_wr_data(w2_wr_data_reg),
    .w2_wr_strb(w2_wr_strb_reg),
    .h_wr_en(h_wr_en),
    .h_wr_addr(h_wr_addr),
    .h_wr_data(h_wr_data),
    .h_done(h_done),
    .h_release(h_release),
    .res_room(res_room),
    .res_valid(res_valid),
    .res_data(res_data)
);

mnist_result_out #(
    .FIFO_DEPTH(32),
    .FLUSH_IDLE_CYCLES(FLUSH_IDLE_CYCLES),
    .START_COPIES(2)
) result_out_inst (
    .clk(aclk),
    .rst_n(io_rst_n_reg),
    .abort(abort_reg),
    .start(batch_start_copy[7:6]),
    .n_images(n_images),
    .res_valid(res_valid),
    .res_data(res_data),
    .res_room(res_room),
    .err_flag(err_flag),
    .n_good(n_good),
    .m_axis_tdata(m_axis_tdata),
    .m_axis_tkeep(m_axis_tkeep),
    .m_axis_tlast(m_axis_tlast),
    .m_axis_tvalid(m_axis_tvalid),
    .m_axis_tready(m_axis_tready),
    .images_done(images_done),
    .last_beat(last_beat),
    .out_done(out_done),
    .flushing(out_flushing)
);

endmodule

`resetall
