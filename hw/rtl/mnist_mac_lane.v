`resetall
`timescale 1ns / 1ps
`default_nettype none

// One layer-1 MAC lane: int8 weight x zero-extended uint8 pixel, accumulated
// exactly. A/B, M and P are registered so the lane maps onto one DSP48E1
// (AREG/BREG, MREG, PREG); acc_clear selects 0 instead of the P feedback
// (OPMODE Z mux) so a new neuron starts without a bubble. cap holds the
// finished sum of the previous neuron for the shared requantizer.
module mnist_mac_lane #(
    // accumulator bits; 26 holds |784 * 255 * 128| < 2^25 exactly
    parameter ACC_WIDTH = 26
) (
    input  wire                        clk,
    input  wire signed [7:0]           w_in,      // weight from the bank
    input  wire [7:0]                  x_in,      // broadcast pixel
    input  wire                        acc_en,    // product in M is valid
    input  wire                        acc_clear, // product in M is a neuron's first
    input  wire                        cap_en,    // P holds a finished neuron
    output wire signed [ACC_WIDTH-1:0] cap
);

localparam PROD_WIDTH = 17;  // 8-bit signed x 9-bit signed

(* use_dsp = "yes" *) reg signed [7:0] a_reg;
(* use_dsp = "yes" *) reg signed [8:0] b_reg;
(* use_dsp = "yes" *) reg signed [PROD_WIDTH-1:0] m_reg;
(* use_dsp = "yes" *) reg signed [ACC_WIDTH-1:0] p_reg;
reg signed [ACC_WIDTH-1:0] cap_reg;

wire signed [ACC_WIDTH-1:0] p_fb = acc_clear ? {ACC_WIDTH{1'b0}} : p_reg;

assign cap = cap_reg;

always @(posedge clk) begin
    a_reg <= w_in;
    b_reg <= $signed({1'b0, x_in});
    m_reg <= a_reg * b_reg;
    if (acc_en) begin
        p_reg <= p_fb + {{(ACC_WIDTH-PROD_WIDTH){m_reg[PROD_WIDTH-1]}}, m_reg};
    end
    if (cap_en) begin
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
