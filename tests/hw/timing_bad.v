`resetall
`timescale 1ns / 1ps
`default_nettype none

// Deliberately bad for 150 MHz (tests/hw/test_timing_structure.py): the block
// RAM output drives the multiplier directly, the accumulator clear (OPMODE) and
// a 100-bit clock enable come from a gate of two flip-flops.
module timing_bad (
    input  wire         clk,
    input  wire         we,
    input  wire [9:0]   wr_addr,
    input  wire [7:0]   wr_data,
    input  wire [9:0]   rd_addr,
    input  wire [7:0]   x,
    input  wire         en_a,
    input  wire         en_b,
    input  wire [99:0]  d,
    output wire [99:0]  q,
    output wire [31:0]  acc
);

(* ram_style = "block" *) reg [7:0] mem [0:1023];
reg [7:0] w_q_reg;
reg [7:0] x_reg;
reg en_a_reg;
reg en_b_reg;
reg signed [15:0] m_reg;
reg signed [31:0] acc_reg;
reg [99:0] q_reg;

wire both = en_a_reg && en_b_reg;

always @(posedge clk) begin
    if (we) begin
        mem[wr_addr] <= wr_data;
    end
    w_q_reg <= mem[rd_addr];
    x_reg <= x;
    en_a_reg <= en_a;
    en_b_reg <= en_b;
    m_reg <= $signed(w_q_reg) * $signed({1'b0, x_reg});
    acc_reg <= (both ? 32'sd0 : acc_reg) + m_reg;
    if (both) begin
        q_reg <= d;
    end
end

assign q = q_reg;
assign acc = acc_reg;

endmodule

`resetall
