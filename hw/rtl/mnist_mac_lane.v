`resetall
`timescale 1ns / 1ps
`default_nettype none

// One layer-1 MAC lane: int8 weight x zero-extended uint8 pixel, accumulated
// exactly. The weight gets one more register after the bank (the pixel gets
// its copy register in mnist_layer1 instead); A/B, M and P are registered so the lane maps onto one DSP48E1 (AREG/BREG, MREG, PREG).
// acc_clear selects 0 instead of the P feedback (OPMODE Z mux) so a new neuron
// starts without a bubble. cap holds the finished sum of the previous neuron
// for the shared requantizer.
//
// The controls arrive one cycle early (*_pre) and are registered here, one
// flip-flop per lane, so that the DSP's OPMODE and CEP pins and the 26 capture
// enables are each driven by a local register placed next to them (OPMODEREG
// stays 0). KEEP stops synthesis from merging the per-lane copies.
module mnist_mac_lane #(
    // accumulator bits; 26 holds |784 * 255 * 128| < 2^25 exactly
    parameter ACC_WIDTH = 26
) (
    input  wire                        clk,
    input  wire signed [7:0]           w_in,          // weight from the bank
    input  wire [7:0]                  x_in,          // broadcast pixel, a cycle after w_in
    input  wire                        acc_en_pre,    // next cycle: product in M is valid
    input  wire                        acc_clear_pre, // next cycle: it is a neuron's first
    input  wire                        cap_en_pre,    // next cycle: P holds a finished neuron
    output wire signed [ACC_WIDTH-1:0] cap
);

localparam PROD_WIDTH = 17;  // 8-bit signed x 9-bit signed

reg signed [7:0] w_reg;
(* use_dsp = "yes" *) reg signed [7:0] a_reg;
(* use_dsp = "yes" *) reg signed [8:0] b_reg;
(* use_dsp = "yes" *) reg signed [PROD_WIDTH-1:0] m_reg;
(* use_dsp = "yes" *) reg signed [ACC_WIDTH-1:0] p_reg;
reg signed [ACC_WIDTH-1:0] cap_reg;
(* keep = "true" *) reg acc_en_reg = 1'b0;
(* keep = "true" *) reg acc_clear_reg = 1'b0;
(* keep = "true" *) reg cap_en_reg = 1'b0;

wire signed [ACC_WIDTH-1:0] p_fb = acc_clear_reg ? {ACC_WIDTH{1'b0}} : p_reg;

assign cap = cap_reg;

always @(posedge clk) begin
    w_reg <= w_in;
    a_reg <= w_reg;
    b_reg <= $signed({1'b0, x_in});
    m_reg <= a_reg * b_reg;
    acc_en_reg <= acc_en_pre;
    acc_clear_reg <= acc_clear_pre;
    cap_en_reg <= cap_en_pre;
    if (acc_en_reg) begin
        p_reg <= p_fb + {{(ACC_WIDTH-PROD_WIDTH){m_reg[PROD_WIDTH-1]}}, m_reg};
    end
    if (cap_en_reg) begin
        cap_reg <= p_reg;
    end
end

initial begin
    if (ACC_WIDTH < 26 || ACC_WIDTH > 48) begin
        $error("%m: ACC_WIDTH=%0d must be 26..48", ACC_WIDTH);
        $finish;
    end
end

endmodule

`resetall
