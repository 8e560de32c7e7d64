`resetall
`timescale 1ns / 1ps
`default_nettype none

// Deliberately bad for the DSP's middle stage (tests/hw/test_timing_structure.py):
// the product goes straight into the accumulator adder with no M register, so
// the multiplier and the adder share one cycle. Yosys packs the adder into a
// DSP48E1 (PREG = 1, MREG = 0); on xcup the DSP48E2 stays a bare multiplier
// whose P output feeds fabric adder logic.
module timing_bad_product (
    input  wire               clk,
    input  wire signed [7:0]  a,
    input  wire signed [8:0]  b,
    output wire signed [25:0] acc
);

(* use_dsp = "yes" *) reg signed [7:0] a_reg;
(* use_dsp = "yes" *) reg signed [8:0] b_reg;
(* use_dsp = "yes" *) reg signed [25:0] acc_reg;

always @(posedge clk) begin
    a_reg <= a;
    b_reg <= b;
    acc_reg <= acc_reg + a_reg * b_reg;
end

assign acc = acc_reg;

endmodule

`resetall
