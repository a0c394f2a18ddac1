//! A minimal arithmetic expression parser: numbers, + - * /, parentheses and unary minus.

use std::fmt;
use std::iter::Peekable;
use std::str::Chars;

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Num(f64),
    Neg(Box<Expr>),
    Bin(Box<Expr>, Op, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, PartialEq)]
pub enum ParseError {
    UnexpectedChar(char, usize),
    UnexpectedEnd,
    DivisionByZero,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::UnexpectedChar(c, at) => write!(f, "unexpected '{}' at {}", c, at),
            ParseError::UnexpectedEnd => write!(f, "unexpected end of input"),
            ParseError::DivisionByZero => write!(f, "division by zero"),
        }
    }
}

pub struct Parser<'a> {
    chars: Peekable<Chars<'a>>,
    pos: usize,
}

impl<'a> Parser<'a> {
    pub fn new(input: &'a str) -> Self {
        Parser { chars: input.chars().peekable(), pos: 0 }
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.chars.peek() {
            if !c.is_whitespace() {
                break;
            }
            self.chars.next();
            self.pos += 1;
        }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        self.pos += 1;
        Some(c)
    }

    pub fn expr(&mut self) -> Result<Expr, ParseError> {
        let mut lhs = self.term()?;
        loop {
            self.skip_ws();
            let op = match self.chars.peek() {
                Some('+') => Op::Add,
                Some('-') => Op::Sub,
                _ => return Ok(lhs),
            };
            self.bump();
            let rhs = self.term()?;
            lhs = Expr::Bin(Box::new(lhs), op, Box::new(rhs));
        }
    }

    fn term(&mut self) -> Result<Expr, ParseError> {
        let mut lhs = self.factor()?;
        loop {
            self.skip_ws();
            let op = match self.chars.peek() {
                Some('*') => Op::Mul,
                Some('/') => Op::Div,
                _ => return Ok(lhs),
            };
            self.bump();
            let rhs = self.factor()?;
            lhs = Expr::Bin(Box::new(lhs), op, Box::new(rhs));
        }
    }

    fn factor(&mut self) -> Result<Expr, ParseError> {
        self.skip_ws();
        match self.bump() {
            Some('-') => Ok(Expr::Neg(Box::new(self.factor()?))),
            Some('(') => {
                let inner = self.expr()?;
                self.skip_ws();
                match self.bump() {
                    Some(')') => Ok(inner),
                    Some(c) => Err(ParseError::UnexpectedChar(c, self.pos - 1)),
                    None => Err(ParseError::UnexpectedEnd),
                }
            }
            Some(c) if c.is_ascii_digit() || c == '.' => {
                let mut text = c.to_string();
                while let Some(&d) = self.chars.peek() {
                    if !(d.is_ascii_digit() || d == '.') {
                        break;
                    }
                    text.push(d);
                    self.bump();
                }
                text.parse().map(Expr::Num).map_err(|_| ParseError::UnexpectedChar(c, self.pos))
            }
            Some(c) => Err(ParseError::UnexpectedChar(c, self.pos - 1)),
            None => Err(ParseError::UnexpectedEnd),
        }
    }
}

pub fn eval(e: &Expr) -> Result<f64, ParseError> {
    Ok(match e {
        Expr::Num(n) => *n,
        Expr::Neg(inner) => -eval(inner)?,
        Expr::Bin(l, op, r) => {
            let (a, b) = (eval(l)?, eval(r)?);
            match op {
                Op::Add => a + b,
                Op::Sub => a - b,
                Op::Mul => a * b,
                Op::Div if b == 0.0 => return Err(ParseError::DivisionByZero),
                Op::Div => a / b,
            }
        }
    })
}
