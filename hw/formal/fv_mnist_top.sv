`default_nettype none

`include "mnist_regmap.vh"

// Formal harness around mnist_top, observing ports only. The layer-1 datapath
// and layer 2 are cut (hw/formal/top.sby): their outputs are free, except the
// window read-back pipeline of layer 1, which stays real. Properties:
//   AXI4-Lite slave: BVALID/BRESP and RVALID/RDATA/RRESP stable until accepted;
//     one response per request (no response without an open request, no second
//     request accepted while one is open); every write answered within
//     K_WRITE cycles and every read within K_READ cycles of its handshake;
//   STATUS: no read ever returns BUSY and DONE together;
//   m_axis: TVALID, TDATA, TKEEP, TLAST stable until accepted (also across
//     SOFT_RESET, any number of them).
// The master and the image source are assumed to follow AXI (VALID and
// payload stable until accepted); aresetn is low in the first cycle only.
module fv_mnist_top #(
    parameter NUM_BANKS = 8,
    parameter K_WRITE = 4,
    parameter K_READ = 12
) (
    input wire                                 aclk,
    input wire                                 aresetn,
    input wire [`MNIST_AXIL_ADDR_WIDTH-1:0]    s_axi_ctrl_awaddr,
    input wire                                 s_axi_ctrl_awvalid,
    input wire [`MNIST_AXIL_DATA_WIDTH-1:0]    s_axi_ctrl_wdata,
    input wire [`MNIST_AXIL_DATA_WIDTH/8-1:0]  s_axi_ctrl_wstrb,
    input wire                                 s_axi_ctrl_wvalid,
    input wire                                 s_axi_ctrl_bready,
    input wire [`MNIST_AXIL_ADDR_WIDTH-1:0]    s_axi_ctrl_araddr,
    input wire                                 s_axi_ctrl_arvalid,
    input wire                                 s_axi_ctrl_rready,
    input wire [`MNIST_AXIS_DATA_WIDTH-1:0]    s_axis_tdata,
    input wire [`MNIST_AXIS_DATA_WIDTH/8-1:0]  s_axis_tkeep,
    input wire                                 s_axis_tlast,
    input wire                                 s_axis_tvalid,
    input wire                                 m_axis_tready
);

localparam AW = `MNIST_AXIL_ADDR_WIDTH;
localparam [AW-1:0] STATUS = `MNIST_REG_STATUS;

wire s_axi_ctrl_awready;
wire s_axi_ctrl_wready;
wire [1:0] s_axi_ctrl_bresp;
wire s_axi_ctrl_bvalid;
wire s_axi_ctrl_arready;
wire [31:0] s_axi_ctrl_rdata;
wire [1:0] s_axi_ctrl_rresp;
wire s_axi_ctrl_rvalid;
wire s_axis_tready;
wire [31:0] m_axis_tdata;
wire [3:0] m_axis_tkeep;
wire m_axis_tlast;
wire m_axis_tvalid;
wire interrupt;

mnist_top #(
    .NUM_BANKS(NUM_BANKS)
) dut (
    .aclk(aclk),
    .aresetn(aresetn),
    .s_axi_ctrl_awaddr(s_axi_ctrl_awaddr),
    .s_axi_ctrl_awprot(3'd0),
    .s_axi_ctrl_awvalid(s_axi_ctrl_awvalid),
    .s_axi_ctrl_awready(s_axi_ctrl_awready),
    .s_axi_ctrl_wdata(s_axi_ctrl_wdata),
    .s_axi_ctrl_wstrb(s_axi_ctrl_wstrb),
    .s_axi_ctrl_wvalid(s_axi_ctrl_wvalid),
    .s_axi_ctrl_wready(s_axi_ctrl_wready),
    .s_axi_ctrl_bresp(s_axi_ctrl_bresp),
    .s_axi_ctrl_bvalid(s_axi_ctrl_bvalid),
    .s_axi_ctrl_bready(s_axi_ctrl_bready),
    .s_axi_ctrl_araddr(s_axi_ctrl_araddr),
    .s_axi_ctrl_arprot(3'd0),
    .s_axi_ctrl_arvalid(s_axi_ctrl_arvalid),
    .s_axi_ctrl_arready(s_axi_ctrl_arready),
    .s_axi_ctrl_rdata(s_axi_ctrl_rdata),
    .s_axi_ctrl_rresp(s_axi_ctrl_rresp),
    .s_axi_ctrl_rvalid(s_axi_ctrl_rvalid),
    .s_axi_ctrl_rready(s_axi_ctrl_rready),
    .s_axis_tdata(s_axis_tdata),
    .s_axis_tkeep(s_axis_tkeep),
    .s_axis_tlast(s_axis_tlast),
    .s_axis_tvalid(s_axis_tvalid),
    .s_axis_tready(s_axis_tready),
    .m_axis_tdata(m_axis_tdata),
    .m_axis_tkeep(m_axis_tkeep),
    .m_axis_tlast(m_axis_tlast),
    .m_axis_tvalid(m_axis_tvalid),
    .m_axis_tready(m_axis_tready),
    .interrupt(interrupt)
);

reg past_valid = 1'b0;
always @(posedge aclk) past_valid <= 1'b1;

always @* begin
    if (!past_valid) assume(!aresetn);
    else assume(aresetn);
end

// ---------------------------------------------------------------- environment
always @(posedge aclk) begin
    if (past_valid && $past(aresetn)) begin
        if ($past(s_axi_ctrl_awvalid && !s_axi_ctrl_awready)) begin
            assume(s_axi_ctrl_awvalid && $stable(s_axi_ctrl_awaddr));
        end
        if ($past(s_axi_ctrl_wvalid && !s_axi_ctrl_wready)) begin
            assume(s_axi_ctrl_wvalid && $stable(s_axi_ctrl_wdata) && $stable(s_axi_ctrl_wstrb));
        end
        if ($past(s_axi_ctrl_arvalid && !s_axi_ctrl_arready)) begin
            assume(s_axi_ctrl_arvalid && $stable(s_axi_ctrl_araddr));
        end
        if ($past(s_axis_tvalid && !s_axis_tready)) begin
            assume(s_axis_tvalid && $stable(s_axis_tdata) && $stable(s_axis_tkeep)
                   && $stable(s_axis_tlast));
        end
    end
end

// ---------------------------------------------------------------- AXI4-Lite write
wire aw_fire = s_axi_ctrl_awvalid && s_axi_ctrl_awready;
wire w_fire = s_axi_ctrl_wvalid && s_axi_ctrl_wready;
wire b_fire = s_axi_ctrl_bvalid && s_axi_ctrl_bready;
reg aw_open = 1'b0;   // AW accepted, B not yet accepted
reg w_open = 1'b0;
reg [3:0] b_age = 4'd0;  // cycles both handshakes are done and BVALID has not come

always @(posedge aclk) begin
    if (aw_fire) aw_open <= 1'b1;
    else if (b_fire) aw_open <= 1'b0;
    if (w_fire) w_open <= 1'b1;
    else if (b_fire) w_open <= 1'b0;
    if (aw_open && w_open && !s_axi_ctrl_bvalid) b_age <= b_age + 4'd1;
    else b_age <= 4'd0;
    if (!aresetn) begin
        aw_open <= 1'b0;
        w_open <= 1'b0;
        b_age <= 4'd0;
    end
end

`ifdef CHECK_AXIL
always @(posedge aclk) begin
    if (past_valid && aresetn) begin
        // one B per AW/W pair, none without one
        if (s_axi_ctrl_bvalid) assert(aw_open && w_open);
        if (aw_fire) assert(!aw_open || b_fire);
        if (w_fire) assert(!w_open || b_fire);
        assert(b_age <= K_WRITE);
    end
    if (past_valid && $past(aresetn) && aresetn && $past(s_axi_ctrl_bvalid && !s_axi_ctrl_bready)) begin
        assert(s_axi_ctrl_bvalid && $stable(s_axi_ctrl_bresp));
    end
end
`endif

// ---------------------------------------------------------------- AXI4-Lite read
wire ar_fire = s_axi_ctrl_arvalid && s_axi_ctrl_arready;
wire r_fire = s_axi_ctrl_rvalid && s_axi_ctrl_rready;
reg ar_open = 1'b0;
reg [AW-1:0] ar_addr = {AW{1'b0}};
reg [4:0] r_age = 5'd0;  // cycles since the AR handshake without RVALID

always @(posedge aclk) begin
    if (ar_fire) begin
        ar_open <= 1'b1;
        ar_addr <= {s_axi_ctrl_araddr[AW-1:2], 2'b00};
    end else if (r_fire) begin
        ar_open <= 1'b0;
    end
    if (ar_open && !s_axi_ctrl_rvalid) r_age <= r_age + 5'd1;
    else r_age <= 5'd0;
    if (!aresetn) begin
        ar_open <= 1'b0;
        r_age <= 5'd0;
    end
end

`ifdef CHECK_AXIL
always @(posedge aclk) begin
    if (past_valid && aresetn) begin
        if (s_axi_ctrl_rvalid) assert(ar_open);
        if (ar_fire) assert(!ar_open || r_fire);
    end
    if (past_valid && $past(aresetn) && aresetn && $past(s_axi_ctrl_rvalid && !s_axi_ctrl_rready)) begin
        assert(s_axi_ctrl_rvalid && $stable(s_axi_ctrl_rdata) && $stable(s_axi_ctrl_rresp));
    end
end
`endif

`ifdef CHECK_READ_LATENCY
always @(posedge aclk) begin
    if (past_valid && aresetn) assert(r_age <= K_READ);
end
`endif

`ifdef CHECK_STATUS
// DONE is never set while BUSY
always @(posedge aclk) begin
    if (past_valid && aresetn && s_axi_ctrl_rvalid && ar_addr == STATUS
            && s_axi_ctrl_rresp == 2'b00) begin
        assert(!(s_axi_ctrl_rdata[`MNIST_STATUS_BUSY_BIT]
                 && s_axi_ctrl_rdata[`MNIST_STATUS_DONE_BIT]));
    end
end
`endif

// ---------------------------------------------------------------- m_axis
// SOFT_RESET closes a result packet with the beat on offer plus a terminator;
// only FLUSH_IDLE_CYCLES (512) without TREADY after it may withdraw a beat,
// which is beyond this BMC depth (result_out.sby proves that case).
`ifdef CHECK_M_AXIS
always @(posedge aclk) begin
    if (past_valid && $past(aresetn) && aresetn && $past(m_axis_tvalid && !m_axis_tready)) begin
        assert(m_axis_tvalid && $stable(m_axis_tdata) && $stable(m_axis_tkeep)
               && $stable(m_axis_tlast));
    end
end
`endif

// ---------------------------------------------------------------- covers
// The scenarios the properties above are about are reachable within the depth.
`ifdef CHECK_COVER
localparam [AW-1:0] CTRL = `MNIST_REG_CTRL;
localparam [31:0] WIN_LO = `MNIST_WEIGHT_WINDOW_OFFSET;
localparam [31:0] WIN_HI = `MNIST_WEIGHT_WINDOW_OFFSET + `MNIST_WEIGHT_WINDOW_BYTES;
wire [31:0] araddr32 = {{(32-AW){1'b0}}, s_axi_ctrl_araddr};
wire ar_window = araddr32 >= WIN_LO && araddr32 < WIN_HI;
wire wr_ctrl = aw_fire && s_axi_ctrl_awaddr == CTRL && s_axi_ctrl_wstrb[0];
wire wr_start = wr_ctrl && s_axi_ctrl_wdata[`MNIST_CTRL_START_BIT]
                && !s_axi_ctrl_wdata[`MNIST_CTRL_SOFT_RESET_BIT];
wire wr_soft_reset = wr_ctrl && s_axi_ctrl_wdata[`MNIST_CTRL_SOFT_RESET_BIT];
wire status_read = r_fire && ar_addr == STATUS && s_axi_ctrl_rresp == 2'b00;
reg wr_start_prev = 1'b0;
always @(posedge aclk) wr_start_prev <= wr_start && s_axi_ctrl_bresp == 2'b00;

always @(posedge aclk) begin
    if (past_valid && aresetn) begin
        // SOFT_RESET while a result beat waits for TREADY
        cover(wr_soft_reset && m_axis_tvalid && !m_axis_tready);
        // a window read whose AR lands in the cycle after a START's handshake
        cover(ar_fire && ar_window && wr_start_prev);
        // a batch that ends: its TLAST beat, then DONE read back
        cover(m_axis_tvalid && m_axis_tready && m_axis_tlast);
        cover(status_read && s_axi_ctrl_rdata[`MNIST_STATUS_DONE_BIT]);
        // DRAINING read back after a SOFT_RESET
        cover(status_read && s_axi_ctrl_rdata[`MNIST_STATUS_DRAINING_BIT]);
    end
end
`endif

endmodule

`default_nettype wire
